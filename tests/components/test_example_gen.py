"""UnirecExampleGen's executor writes an Examples artifact stock components can read."""
import json
import os

import tensorflow as tf
from tfx.components.util import examples_utils
from tfx.types import artifact_utils, standard_artifacts

from components.example_gen import executor
from models import features, split_info


def _run(tmp_path, split=None):
    examples = standard_artifacts.Examples()
    examples.uri = str(tmp_path / "examples")
    os.makedirs(examples.uri)
    executor.Executor().Do({}, {"examples": [examples]}, {
        "dataset": json.dumps({"name": "synthetic", "num_users": 40, "num_items": 60,
                               "num_interactions": 800, "seed": 1}),
        "split": json.dumps(split or {"method": "temporal", "eval_fraction": 0.2}),
        "history_length": 5,
        "max_history": 1000,
        "input_fingerprint": "",
    })
    return examples


def _count(pattern):
    files = tf.io.gfile.glob(pattern)
    return sum(1 for _ in tf.data.TFRecordDataset(files, compression_type="GZIP"))


def test_writes_four_splits_with_payload_format(tmp_path):
    examples = _run(tmp_path)
    assert artifact_utils.decode_split_names(examples.split_names) == [
        features.TRAIN_SPLIT, features.EVAL_SPLIT, features.CANDIDATES_SPLIT,
        features.USERS_SPLIT]
    assert examples_utils.get_payload_format_string(examples) == "FORMAT_TF_EXAMPLE"
    train = _count(os.path.join(examples.uri, "Split-train", "*"))
    evaluation = _count(os.path.join(examples.uri, "Split-eval", "*"))
    assert train + evaluation == 800
    assert 0.15 < evaluation / 800 < 0.25
    assert _count(os.path.join(examples.uri, "Split-candidates", "*")) == 60
    assert examples.get_int_custom_property("num_candidates_examples") == 60
    assert _count(os.path.join(examples.uri, "Split-users", "*")) == 40
    assert split_info.read(examples.uri).order_matters


def test_records_held_out_items(tmp_path):
    examples = _run(tmp_path, {"method": "temporal", "eval_fraction": 0.2,
                               "holdout_item_fraction": 0.1})
    held_out = split_info.read(examples.uri).holdout_item_ids
    assert len(held_out) == 6
    train_items = set()
    for record in tf.data.TFRecordDataset(
            tf.io.gfile.glob(os.path.join(examples.uri, "Split-train", "*")), compression_type="GZIP"):
        example = tf.train.Example.FromString(record.numpy())
        train_items.add(example.features.feature[features.ITEM_ID].bytes_list.value[0].decode())
    assert train_items.isdisjoint(held_out)
