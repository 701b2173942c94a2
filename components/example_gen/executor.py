"""Executor of UnirecExampleGen: load a dataset, split it, write the splits as TFRecords."""
import json
import logging
import os
from typing import Any, Dict, List

import tensorflow as tf
from tfx import types
from tfx.dsl.components.base import base_beam_executor
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.components.util import examples_utils

from components.example_gen import encoding, examples as examples_lib, user_shards
from components.example_gen.split_config import SplitConfig
from data_contract import adapters, pseudonyms
from models import features, split_info


class Executor(base_beam_executor.BaseBeamExecutor):
    """Decides the split for the whole dataset here, then writes the interaction
    splits a user shard at a time on Beam (user_shards.py); the catalogue's
    candidates split is written here."""

    def Do(self, input_dict: Dict[str, List[types.Artifact]],
           output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        history_length, max_history = exec_properties["history_length"], exec_properties[
            "max_history"]
        examples_lib.check_history_lengths(history_length, max_history)
        dataset = adapters.load_dataset(json.loads(exec_properties["dataset"]))
        logging.info("Loaded dataset %s: %s", dataset.name, dataset.report.summary())
        pseudonymiser, erased = _privacy(exec_properties)
        plan = examples_lib.plan_split(dataset, SplitConfig(**json.loads(exec_properties["split"])),
                                       pseudonymiser, erased)
        del dataset

        output = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.EXAMPLES_KEY])
        output.split_names = artifact_utils.encode_split_names(list(features.EXAMPLE_SPLITS))
        folders = {name: artifact_utils.get_split_uri([output], name)
                   for name in features.EXAMPLE_SPLITS}
        candidates = examples_lib.candidate_rows(plan.dataset)
        encoding.write_split(candidates, folders[features.CANDIDATES_SPLIT])
        counts = {features.CANDIDATES_SPLIT: len(candidates)}
        del candidates

        staging = os.path.join(output.uri, ".staging")
        shards = user_shards.stage(plan, staging)
        info, name = plan.info, plan.dataset.name
        del plan  # the Beam stage reads the staged shards, one at a time
        logging.info("Writing the train, eval and users splits in %d user shards", shards)
        with self._make_beam_pipeline() as pipeline:
            counts_path = user_shards.write_shards(pipeline, staging, folders, shards,
                                                   history_length, max_history)
        counts.update(user_shards.read_counts(counts_path))
        tf.io.gfile.rmtree(staging)

        for split_name in features.EXAMPLE_SPLITS:
            logging.info("Wrote %d %s examples", counts[split_name], split_name)
            output.set_int_custom_property(f"num_{split_name}_examples", counts[split_name])
        split_info.write(output.uri, info)
        examples_utils.set_payload_format(output, example_gen_pb2.PayloadFormat.FORMAT_TF_EXAMPLE)
        output.set_string_custom_property("dataset", name)


def _privacy(exec_properties: Dict[str, Any]):
    """The pseudonymiser of the key the pipeline was built with, and the erased pseudonyms.

    The exec properties hold only the key's id, the erasure list's path and a keyed
    digest of its content: the key and the pseudonyms never enter ML Metadata.
    """
    pseudonymiser = pseudonyms.Pseudonymiser(
        pseudonyms.resolve_key(exec_properties.get("pseudonym_key_file") or ""))
    if pseudonymiser.key_id != exec_properties["pseudonym_key_id"]:
        raise ValueError(
            f"the pseudonym key here (id {pseudonymiser.key_id}) is not the one the pipeline "
            f"was built with (id {exec_properties['pseudonym_key_id']}); give this process the "
            f"same key ({pseudonyms.KEY_ENV} or privacy.key_file)")
    path = exec_properties.get("erased_users_file") or ""
    erased, content = pseudonyms.read_erased(path)
    if pseudonymiser.digest(content) != exec_properties["erased_users_digest"]:
        raise ValueError(f"the erasure list {path} changed after the pipeline was built; "
                         "run it again")
    if erased:
        logging.info("Leaving out the users of %d pseudonyms on the erasure list %s",
                     len(erased), path)
    return pseudonymiser, erased
