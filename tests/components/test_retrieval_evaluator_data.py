"""The evaluator's reader on hand-written splits: every field it builds, checked
against what the rows say."""
import os

import numpy as np
import pytest
import tensorflow as tf
from tfx.types import artifact_utils, standard_artifacts

from components.example_gen import encoding
from components.retrieval_evaluator import data as data_lib
from models import features

ITEMS = ["i0", "i1", "i2", "i3"]
TRAIN = [("u2", "i0"), ("u1", "i1"), ("u2", "i1"), ("u2", "i1"), ("u4", "i2"), ("u1", "i9")]
EVAL = [("u1", "i2"), ("u3", "i0"), ("u2", "i3"), ("u1", "i3"), ("u3", "i1"), ("u5", "i9")]
USERS = {"u1": ["i1"], "u2": ["i1", "i0", "i1"], "u4": ["i2"]}  # most recent first
AGE = {"u1": 30.0, "u2": 40.0, "u3": 50.0, "u4": 60.0, "u5": 70.0}


def interaction(user, item):
    return {features.USER_ID: user, features.ITEM_ID: item, features.TIMESTAMP: 0,
            "user_age": AGE[user], features.HISTORY_ITEM_IDS: []}


@pytest.fixture
def examples(tmp_path):
    artifact = standard_artifacts.Examples()
    artifact.uri = str(tmp_path)
    splits = {
        features.TRAIN_SPLIT: [interaction(*pair) for pair in TRAIN],
        features.EVAL_SPLIT: [interaction(*pair) for pair in EVAL],
        features.CANDIDATES_SPLIT: [{features.ITEM_ID: item, features.ITEM_TAGS: [f"t{n % 2}"]}
                                    for n, item in enumerate(ITEMS)],
        features.USERS_SPLIT: [{features.USER_ID: user, "user_age": AGE[user],
                                features.HISTORY_ITEM_IDS: history}
                               for user, history in USERS.items()],
    }
    artifact.split_names = artifact_utils.encode_split_names(list(splits))
    for name, rows in splits.items():
        folder = artifact_utils.get_split_uri([artifact], name)
        os.makedirs(folder)
        encoding.write_split(rows, folder, rows_per_shard=2)
    return artifact


def load(examples):
    query_specs = {features.USER_ID: tf.TensorSpec([None], tf.string),
                   "user_age": tf.TensorSpec([None], tf.float32),
                   features.HISTORY_ITEM_IDS: tf.TensorSpec([None, None], tf.string)}
    return data_lib.load(examples, query_specs,
                         {features.ITEM_ID: tf.TensorSpec([None], tf.string)})


def test_users_items_and_the_training_they_saw(examples):
    evaluation = load(examples)
    assert list(evaluation.item_ids) == [item.encode() for item in ITEMS]
    # i9 is not in the catalogue: u5's only eval interaction goes, and u5 with it.
    assert list(evaluation.user_ids) == [b"u1", b"u2", b"u3"]
    assert evaluation.eval_items == [{2, 3}, {3}, {0, 1}]
    np.testing.assert_array_equal(evaluation.train_item_counts, [1, 3, 1, 0])
    # Rows of the training matrix: the training users in id order; repeats count once.
    np.testing.assert_array_equal(evaluation.train_matrix.toarray(),
                                  [[0, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0]])
    np.testing.assert_array_equal(evaluation.train_rows, [0, 1, -1])
    np.testing.assert_array_equal(evaluation.seen_matrix().toarray(),
                                  [[0, 1, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0]])
    np.testing.assert_array_equal(evaluation.train_counts(), [1, 2, 0])
    np.testing.assert_array_equal(evaluation.item_tags.toarray(),
                                  [[1, 0], [0, 1], [1, 0], [0, 1]])


def test_queries_are_the_users_split_and_an_untrained_user_has_an_empty_history(examples):
    evaluation = load(examples)
    queries = evaluation.queries(np.array([0, 1, 2]))
    assert list(queries[features.USER_ID]) == [b"u1", b"u2", b"u3"]
    # u3 has no users row: the age of their first eval interaction.
    np.testing.assert_allclose(queries["user_age"], [30.0, 40.0, 50.0])
    assert queries[features.HISTORY_ITEM_IDS].tolist() == [
        [b"i1", b"", b""], [b"i1", b"i0", b"i1"], [b"", b"", b""]]
    # A batch is padded to its longest history.
    assert evaluation.queries(np.array([2, 0]))[features.HISTORY_ITEM_IDS].tolist() == [
        [b""], [b"i1"]]


def test_a_user_sample_keeps_each_users_query(examples):
    evaluation = load(examples)
    sampled = data_lib.sample_users(evaluation, 2, seed=3)
    rows = [list(evaluation.user_ids).index(user) for user in sampled.user_ids]
    for name, values in sampled.queries(np.arange(2)).items():
        whole = evaluation.queries(np.array(rows))[name]
        np.testing.assert_array_equal(values, whole)
    assert sampled.eval_items == [evaluation.eval_items[row] for row in rows]
