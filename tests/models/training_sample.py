"""Test helper: a small dataset as the pipeline hands it to a Trainer.

Examples splits on disk (laid out as UnirecExampleGen writes them), the schema
UnirecSchemaGen infers and the Transform output of the train and candidates
splits, without running TFX.
"""
import dataclasses
import pathlib
import tempfile
from typing import Dict, List

import apache_beam as beam
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tensorflow_data_validation.statistics import stats_impl
from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io
from tfx_bsl.coders import example_coder
from tfx_bsl.public import tfxio
from tfx.types import artifact_utils, standard_artifacts
from tfx.utils import io_utils

from components.example_gen import encoding, examples as examples_lib
from components.schema_gen import joined_schema
from components.example_gen.split_config import SplitConfig
from data_contract.contract import Dataset
from models import features, split_info
from models.transform import preprocessing

CSV_DIR = pathlib.Path(__file__).resolve().parent.parent / "data" / "csv"


def _statistics(rows):
    """TFDV's statistics of dict rows, as StatisticsGen computes them from tf.Examples."""
    examples = encoding.serialize(encoding.batch_from_rows(rows))
    return stats_impl.generate_statistics_in_memory(
        example_coder.ExamplesToRecordBatchDecoder().DecodeBatch(examples))


def joined_schema_of(splits: Dict[str, List[dict]]):
    """The schema UnirecSchemaGen infers from these splits."""
    return joined_schema.join(
        [_statistics(splits[features.TRAIN_SPLIT]), _statistics(splits[features.EVAL_SPLIT])],
        _statistics(splits[features.CANDIDATES_SPLIT]))


def analyse(splits: Dict[str, List[dict]], transform_dir: str) -> tft.TFTransformOutput:
    """What the Transform component writes for these splits: the joined schema, the
    train and candidates rows parsed with it through TFXIO and analysed together."""
    schema = joined_schema_of(splits)
    records = [record for name in (features.TRAIN_SPLIT, features.CANDIDATES_SPLIT)
               for record in encoding.serialize(encoding.batch_from_rows(splits[name]))]
    source = tfxio.TFExampleBeamRecord(physical_format="tfexample", schema=schema)
    with tempfile.TemporaryDirectory() as temp_dir, tft_beam.Context(temp_dir=temp_dir), \
            beam.Pipeline() as pipeline:
        transform_fn = ((pipeline | beam.Create(records, reshuffle=False) | source.BeamSource(),
                         source.TensorAdapterConfig())
                        | tft_beam.AnalyzeDataset(preprocessing.preprocessing_fn))
        _ = transform_fn | tft_beam.WriteTransformFn(transform_dir)
    # The Transform component also records the raw schema there; TFTransformOutput reads it.
    metadata_io.write_metadata(dataset_metadata.DatasetMetadata(schema), str(
        pathlib.Path(transform_dir) / tft.TFTransformOutput.RAW_METADATA_DIR))
    return tft.TFTransformOutput(transform_dir)


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
    transform_dir = str(root / "transform")
    return TrainingSample(examples, analyse(built.splits, transform_dir), built.splits,
                          transform_dir)
