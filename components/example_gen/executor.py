"""Executor of UnirecExampleGen: load a dataset, build the splits, write TFRecords."""
import json
import logging
from typing import Any, Dict, List

from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.components.util import examples_utils

from components.example_gen import encoding, examples as examples_lib
from components.example_gen.split_config import SplitConfig
from data_contract import adapters, pseudonyms
from models import split_info


class Executor(base_executor.BaseExecutor):

    def Do(self, input_dict: Dict[str, List[types.Artifact]],
           output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        dataset = adapters.load_dataset(json.loads(exec_properties["dataset"]))
        logging.info("Loaded dataset %s: %s", dataset.name, dataset.report.summary())
        split = SplitConfig(**json.loads(exec_properties["split"]))
        pseudonymiser, erased = _privacy(exec_properties)
        built = examples_lib.build_examples(
            dataset, split, history_length=exec_properties["history_length"],
            max_history=exec_properties["max_history"], pseudonymiser=pseudonymiser,
            erased_users=erased)

        output = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.EXAMPLES_KEY])
        output.split_names = artifact_utils.encode_split_names(list(built.splits))
        for split_name, rows in built.splits.items():
            files = encoding.write_split(
                rows, artifact_utils.get_split_uri([output], split_name))
            logging.info("Wrote %d %s examples in %d files", len(rows), split_name, len(files))
            output.set_int_custom_property(f"num_{split_name}_examples", len(rows))
        split_info.write(output.uri, built.info)
        examples_utils.set_payload_format(output, example_gen_pb2.PayloadFormat.FORMAT_TF_EXAMPLE)
        output.set_string_custom_property("dataset", dataset.name)



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
