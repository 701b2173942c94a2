"""The Transform module on a tiny dataset, through tf.Transform's Beam implementation."""
import tempfile

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

from models import features
from models.transform import preprocessing

RAW_SPEC = {
    features.USER_ID: tf.io.FixedLenFeature([1], tf.string),
    features.ITEM_ID: tf.io.FixedLenFeature([1], tf.string),
    features.HISTORY_ITEM_IDS: tf.io.VarLenFeature(tf.string),
    features.ITEM_TEXT: tf.io.FixedLenFeature([1], tf.string),
    features.ITEM_TAGS: tf.io.VarLenFeature(tf.string),
    "user_gender": tf.io.FixedLenFeature([1], tf.string),
    "user_age": tf.io.FixedLenFeature([1], tf.float32),
    features.RATING: tf.io.FixedLenFeature([1], tf.float32),
}


def _row(user, item, history, text, tags, gender, age, rating):
    return {features.USER_ID: [user], features.ITEM_ID: [item],
            features.HISTORY_ITEM_IDS: history, features.ITEM_TEXT: [text],
            features.ITEM_TAGS: tags, "user_gender": [gender], "user_age": [age],
            features.RATING: [rating]}


ROWS = [
    _row("u1", "i1", [], "The  Matrix\t(1999)", ["sci-fi"], "F", 20.0, 5.0),
    _row("u1", "i2", ["i1"], "Heat", ["crime", "drama"], "F", 20.0, 4.0),
    _row("u2", "i1", [], "The Matrix", ["sci-fi"], "M", 60.0, 3.0),
    _row("u3", "i3", ["i9"], "Amélie", ["comedy"], "M", 35.0, 1.0),
]


@pytest.fixture(scope="module")
def transformed():
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(RAW_SPEC))
    with tempfile.TemporaryDirectory() as temp_dir, tft_beam.Context(temp_dir=temp_dir):
        (rows, _), transform_fn = (ROWS, metadata) | tft_beam.AnalyzeAndTransformDataset(
            preprocessing.preprocessing_fn)
        output_dir = tempfile.mkdtemp()
        _ = transform_fn | tft_beam.WriteTransformFn(output_dir)
    return rows, tft.TFTransformOutput(output_dir)


def test_ids_use_train_vocabularies_with_one_oov_bucket(transformed):
    rows, output = transformed
    item_vocab = output.vocabulary_by_name(preprocessing.ITEM_ID_VOCAB)
    assert sorted(item_vocab) == [b"i1", b"i2", b"i3"]
    assert item_vocab[rows[0][features.ITEM_ID]] == b"i1"
    # "i9" appears only in a history: it falls in the OOV bucket (= vocabulary size).
    assert list(rows[3][features.HISTORY_ITEM_IDS]) == [len(item_vocab)]
    assert rows[1][features.HISTORY_ITEM_IDS][0] == rows[0][features.ITEM_ID]


def test_numeric_fields_are_standardised_and_bucketised(transformed):
    rows, _ = transformed
    ages = np.array([row["user_age"] for row in rows])
    assert abs(ages.mean()) < 1e-6
    buckets = [row["user_age_bucket"] for row in rows]
    assert buckets[2] > buckets[3] > buckets[0]


def test_text_is_normalised_and_tags_become_ids(transformed):
    rows, output = transformed
    assert rows[0][features.ITEM_TEXT] == b"the matrix (1999)"
    assert rows[3][features.ITEM_TEXT] == "amélie".encode()
    tag_vocab = output.vocabulary_by_name(preprocessing.ITEM_TAGS_VOCAB)
    assert sorted(tag_vocab[i] for i in rows[1][features.ITEM_TAGS]) == [b"crime", b"drama"]
    assert rows[0][features.RATING] == 5.0
