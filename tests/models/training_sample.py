"""Test helper: a small dataset as the pipeline hands it to a Trainer.

Examples splits on disk (laid out as UnirecExampleGen writes them) and the
Transform output of the train split, without running TFX.
"""
import dataclasses
import pathlib
import tempfile
from typing import Dict, List

import apache_beam as beam
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io, schema_utils
from tfx.types import artifact_utils, standard_artifacts
from tfx.utils import io_utils

from components.example_gen import encoding, examples as examples_lib
from components.example_gen.split_config import SplitConfig
from data_contract.contract import Dataset
from models import features, split_info
from models.transform import preprocessing

CSV_DIR = pathlib.Path(__file__).resolve().parent.parent / "data" / "csv"


def raw_feature_spec(row):
    """What SchemaGen infers: lists are variable-length strings, scalars [1]-shaped features."""
    spec = {}
    for name, value in row.items():
        if isinstance(value, list):
            spec[name] = tf.io.VarLenFeature(tf.string)
        else:
            dtype = {str: tf.string, int: tf.int64, float: tf.float32}[type(value)]
            spec[name] = tf.io.FixedLenFeature([1], dtype)
    return spec


@dataclasses.dataclass
class TrainingSample:
    examples: standard_artifacts.Examples
    tft_output: tft.TFTransformOutput
    rows: Dict[str, List[dict]]  # by split
    transform_dir: str  # the Transform output, as the Trainer's transform_graph_path

    def files(self, split: str) -> List[str]:
        return [io_utils.all_files_pattern(artifact_utils.get_split_uri([self.examples], split))]


def write_training_sample(root: pathlib.Path, dataset: Dataset, split: SplitConfig,
                          history_length: int) -> TrainingSample:
    built = examples_lib.build_examples(dataset, split, history_length=history_length)
    examples = standard_artifacts.Examples()
    examples.uri = str(root / "examples")
    examples.split_names = artifact_utils.encode_split_names(list(built.splits))
    for name, rows in built.splits.items():
        encoding.write_tfrecord_gz(
            rows, str(pathlib.Path(artifact_utils.get_split_uri([examples], name)) / "data.gz"))
    split_info.write(examples.uri, built.info)
    train_rows = built.splits[features.TRAIN_SPLIT]
    metadata = dataset_metadata.DatasetMetadata(
        schema_utils.schema_from_feature_spec(raw_feature_spec(train_rows[0])))
    instances = [{k: v if isinstance(v, list) else [v] for k, v in row.items()}
                 for row in train_rows]
    transform_dir = str(root / "transform")
    with tempfile.TemporaryDirectory() as temp_dir, tft_beam.Context(temp_dir=temp_dir), \
            beam.Pipeline() as pipeline:
        transform_fn = ((pipeline | beam.Create(instances, reshuffle=False), metadata)
                        | tft_beam.AnalyzeDataset(preprocessing.preprocessing_fn))
        _ = transform_fn | tft_beam.WriteTransformFn(transform_dir)
    # The Transform component also records the raw schema there; TFTransformOutput reads it.
    metadata_io.write_metadata(
        metadata, str(pathlib.Path(transform_dir) / tft.TFTransformOutput.RAW_METADATA_DIR))
    return TrainingSample(examples, tft.TFTransformOutput(transform_dir), built.splits,
                          transform_dir)
