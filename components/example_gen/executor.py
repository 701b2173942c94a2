"""Executor of UnirecExampleGen: load a dataset, build the splits, write TFRecords."""
import json
import logging
import os
from typing import Any, Dict, List

from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.components.util import examples_utils

from components.example_gen import examples as examples_lib
from components.example_gen.split_config import SplitConfig
from data_contract import adapters
from models import split_info


class Executor(base_executor.BaseExecutor):

    def Do(self, input_dict: Dict[str, List[types.Artifact]],
           output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        dataset = adapters.load_dataset(json.loads(exec_properties["dataset"]))
        logging.info("Loaded dataset %s: %s", dataset.name, dataset.report.summary())
        split = SplitConfig(**json.loads(exec_properties["split"]))
        built = examples_lib.build_examples(
            dataset, split, history_length=exec_properties["history_length"],
            max_history=exec_properties["max_history"])

        output = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.EXAMPLES_KEY])
        output.split_names = artifact_utils.encode_split_names(list(built.splits))
        for split_name, rows in built.splits.items():
            path = os.path.join(artifact_utils.get_split_uri([output], split_name),
                                "data_tfrecord-00000-of-00001.gz")
            examples_lib.write_tfrecord_gz(rows, path)
            output.set_int_custom_property(f"num_{split_name}_examples", len(rows))
        split_info.write(output.uri, built.info)
        examples_utils.set_payload_format(output, example_gen_pb2.PayloadFormat.FORMAT_TF_EXAMPLE)
        output.set_string_custom_property("dataset", dataset.name)

