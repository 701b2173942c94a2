"""UnirecExampleGen's executor writes an Examples artifact stock components can read."""
import gzip
import json
import os

import pytest

import tensorflow as tf
from tfx.components.util import examples_utils
from tfx.types import artifact_utils, standard_artifacts

from components.example_gen import encoding, examples as examples_lib, executor, user_shards
from components.example_gen.split_config import SplitConfig
from data_contract import adapters, pseudonyms
from models import features, split_info

DATASET = {"name": "synthetic", "num_users": 40, "num_items": 60, "num_interactions": 800,
           "seed": 1}
PSEUDONYMISER = pseudonyms.Pseudonymiser(pseudonyms.resolve_key())


def _run(tmp_path, split=None, erased_users_file="", name="examples"):
    examples = standard_artifacts.Examples()
    examples.uri = str(tmp_path / name)
    os.makedirs(examples.uri)
    executor.Executor().Do({}, {"examples": [examples]}, {
        "dataset": json.dumps(DATASET),
        "split": json.dumps(split or {"method": "temporal", "eval_fraction": 0.2}),
        "history_length": 5,
        "max_history": 1000,
        "input_fingerprint": "",
        "pseudonym_key_file": "",
        "pseudonym_key_id": PSEUDONYMISER.key_id,
        "erased_users_file": erased_users_file,
        "erased_users_digest": pseudonyms.erased_digest(PSEUDONYMISER, erased_users_file),
    })
    return examples


def _user_ids(examples, split_name):
    files = tf.io.gfile.glob(os.path.join(examples.uri, f"Split-{split_name}", "*"))
    return [tf.train.Example.FromString(record.numpy()).features.feature[features.USER_ID]
            .bytes_list.value[0].decode() for record in
            tf.data.TFRecordDataset(files, compression_type="GZIP")]


def _all_bytes(folder) -> bytes:
    """Every file under `folder`, gzip members decompressed."""
    content = b""
    for root, _, names in os.walk(folder):
        for name in names:
            with open(os.path.join(root, name), "rb") as f:
                data = f.read()
            content += gzip.decompress(data) if name.endswith(".gz") else data
    return content


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


def test_user_ids_are_pseudonyms_and_no_raw_id_is_written(tmp_path):
    examples = _run(tmp_path)
    raw_ids = adapters.load_dataset(DATASET).users[features.USER_ID].tolist()
    assert len(raw_ids) == 40 and raw_ids[0].startswith("u")
    for split_name in (features.TRAIN_SPLIT, features.EVAL_SPLIT, features.USERS_SPLIT):
        user_ids = set(_user_ids(examples, split_name))
        assert user_ids and all(pseudonyms.is_pseudonym(u) for u in user_ids), split_name
    assert set(_user_ids(examples, features.USERS_SPLIT)) == {PSEUDONYMISER(u) for u in raw_ids}
    written = _all_bytes(examples.uri)
    assert not [u for u in raw_ids if u.encode() in written]


def test_a_forgotten_user_is_left_out_and_their_pseudonym_written_nowhere(tmp_path):
    erased_file = tmp_path / "erased.txt"
    forgotten, added = pseudonyms.forget(PSEUDONYMISER, "u0007", str(erased_file))
    assert added and pseudonyms.forget(PSEUDONYMISER, "u0007", str(erased_file)) == (forgotten, False)
    before = _run(tmp_path, name="before")
    after = _run(tmp_path, erased_users_file=str(erased_file), name="after")
    assert forgotten in set(_user_ids(before, features.TRAIN_SPLIT))
    for split_name in (features.TRAIN_SPLIT, features.EVAL_SPLIT, features.USERS_SPLIT):
        assert forgotten not in set(_user_ids(after, split_name)), split_name
    assert forgotten.encode() not in _all_bytes(after.uri)
    assert len(_user_ids(after, features.USERS_SPLIT)) == 39
    removed = len(_user_ids(before, features.TRAIN_SPLIT)) - len(_user_ids(after, features.TRAIN_SPLIT))
    assert removed > 0


def test_a_different_key_or_a_changed_erasure_list_is_refused(tmp_path, monkeypatch):
    erased_file = tmp_path / "erased.txt"
    erased_file.write_text("")
    examples = standard_artifacts.Examples()
    examples.uri = str(tmp_path / "examples")
    properties = {"dataset": json.dumps(DATASET), "split": json.dumps({"method": "temporal"}),
                  "history_length": 5, "max_history": 1000, "input_fingerprint": "",
                  "pseudonym_key_file": "", "pseudonym_key_id": PSEUDONYMISER.key_id,
                  "erased_users_file": str(erased_file),
                  "erased_users_digest": pseudonyms.erased_digest(PSEUDONYMISER, str(erased_file))}
    pseudonyms.forget(PSEUDONYMISER, "u0001", str(erased_file))
    with pytest.raises(ValueError, match="erasure list .* changed"):
        executor.Executor().Do({}, {"examples": [examples]}, properties)
    monkeypatch.setenv(pseudonyms.KEY_ENV, "another key of enough length")
    with pytest.raises(ValueError, match="not the one the pipeline was built with"):
        executor.Executor().Do({}, {"examples": [examples]}, properties)


def _decoded_rows(folder):
    """The rows of a split's files as sorted (feature, values) tuples, in a sorted list."""
    rows = []
    for path in tf.io.gfile.glob(os.path.join(folder, "*")):
        for record in tf.data.TFRecordDataset(path, compression_type="GZIP"):
            example = tf.train.Example.FromString(record.numpy())
            rows.append(tuple(sorted(
                (name, tuple(getattr(feature, feature.WhichOneof("kind")).value))
                for name, feature in example.features.feature.items())))
    return sorted(rows)


@pytest.mark.parametrize("split", [
    {"method": "temporal", "eval_fraction": 0.2, "holdout_item_fraction": 0.1},
    {"method": "random", "eval_fraction": 0.3, "seed": 4},
    {"method": "random_rows", "eval_fraction": 0.2, "seed": 2}], ids=lambda s: s["method"])
def test_user_shards_write_the_rows_of_the_whole_dataset_split_at_once(tmp_path, monkeypatch,
                                                                      split):
    """Eight user shards on Beam write the rows building the splits in one piece gives."""
    monkeypatch.setattr(user_shards, "INTERACTIONS_PER_SHARD", 100)
    sharded = _run(tmp_path, split)
    built = examples_lib.build_examples(
        adapters.load_dataset(DATASET), SplitConfig(**split), history_length=5,
        pseudonymiser=PSEUDONYMISER)
    for split_name, rows in built.splits.items():
        folder = artifact_utils.get_split_uri([sharded], split_name)
        files = sorted(os.listdir(folder))
        expected_files = 1 if split_name == features.CANDIDATES_SPLIT else 8
        assert files[-1].endswith(f"-of-{expected_files:05d}.gz"), files
        assert len(files) == expected_files
        encoding.write_tfrecord_gz(rows, str(tmp_path / "whole" / split_name / "data.gz"))
        assert _decoded_rows(folder) == _decoded_rows(str(tmp_path / "whole" / split_name))
        assert sharded.get_int_custom_property(f"num_{split_name}_examples") == len(rows)
    users_by_shard = [set(_user_ids_in(path)) for path in tf.io.gfile.glob(
        os.path.join(artifact_utils.get_split_uri([sharded], features.TRAIN_SPLIT), "*"))]
    assert sum(map(len, users_by_shard)) == len(set().union(*users_by_shard))
    assert split_info.read(sharded.uri) == built.info
    assert not os.path.exists(os.path.join(sharded.uri, ".staging"))


def _user_ids_in(path):
    return [tf.train.Example.FromString(record.numpy()).features.feature[features.USER_ID]
            .bytes_list.value[0] for record in tf.data.TFRecordDataset(path, compression_type="GZIP")]
