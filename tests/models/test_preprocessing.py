"""The Transform module on a tiny dataset, through tf.Transform's Beam implementation,
reading interaction rows and catalogue rows as the Transform component does."""
import tempfile

import numpy as np
import pytest
import tensorflow as tf

from components.example_gen import encoding
from models import features
from models.transform import preprocessing
from training_sample import analyse


def _interaction(user, item, history, gender, age, rating):
    return {features.USER_ID: user, features.ITEM_ID: item, features.HISTORY_ITEM_IDS: history,
            "user_gender": gender, "user_age": age, features.RATING: rating}


def _item(item, text, tags, year):
    return {features.ITEM_ID: item, features.ITEM_TEXT: text, features.ITEM_TAGS: tags,
            "item_year": year}


INTERACTIONS = [
    _interaction("u1", "i1", [], "F", 20.0, 5.0),
    _interaction("u1", "i2", ["i1"], "F", 20.0, 4.0),
    _interaction("u2", "i1", [], "M", 60.0, 3.0),
    _interaction("u3", "i3", ["i9"], "M", 35.0, 1.0),
]
# i4 is in the catalogue only (a held-out item).
ITEMS = [
    _item("i1", "The  Matrix\t(1999)", ["sci-fi"], 1999),
    _item("i2", "Heat", ["crime", "drama"], 1995),
    _item("i3", "Amélie", ["comedy"], 2001),
    _item("i4", "Planet Earth", ["documentary"], 2006),
]


def _transform(output, rows):
    """The Transform graph applied to parsed rows, as the Trainer applies it: one dict per row."""
    raw = tf.io.parse_example(encoding.serialize(encoding.batch_from_rows(rows)),
                              output.raw_feature_spec())
    batch = output.transform_features_layer()(raw)
    return [{name: (tf.sparse.slice(value, [k, 0], [1, value.dense_shape[1]]).values.numpy()
                    if isinstance(value, tf.SparseTensor) else value[k].numpy())
             for name, value in batch.items()} for k in range(len(rows))]


@pytest.fixture(scope="module")
def transformed():
    """(transformed interaction rows, transformed item rows, the Transform output)."""
    output = analyse({features.TRAIN_SPLIT: INTERACTIONS, features.EVAL_SPLIT: INTERACTIONS,
                      features.CANDIDATES_SPLIT: ITEMS}, tempfile.mkdtemp())
    return _transform(output, INTERACTIONS), _transform(output, ITEMS), output


def test_ids_use_the_interactions_vocabularies_with_one_oov_bucket(transformed):
    rows, items, output = transformed
    item_vocab = output.vocabulary_by_name(preprocessing.ITEM_ID_VOCAB)
    assert sorted(item_vocab) == [b"i1", b"i2", b"i3"]  # not i4, seen in the catalogue only
    assert items[3][features.ITEM_ID] == len(item_vocab)
    assert item_vocab[rows[0][features.ITEM_ID]] == b"i1"
    # "i9" appears only in a history: it falls in the OOV bucket (= vocabulary size).
    assert list(rows[3][features.HISTORY_ITEM_IDS]) == [len(item_vocab)]
    assert rows[1][features.HISTORY_ITEM_IDS][0] == rows[0][features.ITEM_ID]
    assert sorted(output.vocabulary_by_name(preprocessing.USER_ID_VOCAB)) == [b"u1", b"u2", b"u3"]
    assert sorted(output.vocabulary_by_name("user_gender")) == [b"F", b"M"]


def test_numeric_fields_are_standardised_and_bucketised_on_their_own_rows(transformed):
    rows, items, _ = transformed
    ages = np.array([row["user_age"] for row in rows])
    assert abs(ages.mean()) < 1e-6 and abs(ages.std() - 1.0) < 1e-5  # the items' rows left out
    buckets = [row["user_age_bucket"] for row in rows]
    assert buckets[2] > buckets[3] > buckets[0]
    years = np.array([item["item_year"] for item in items])  # each item once
    assert abs(years.mean()) < 1e-6 and abs(years.std() - 1.0) < 1e-5
    by_year = [items[k]["item_year_bucket"] for k in (1, 0, 2, 3)]  # 1995, 1999, 2001, 2006
    assert by_year == sorted(by_year) and by_year[0] < by_year[-1]


def test_text_is_normalised_and_tags_become_ids_from_the_whole_catalogue(transformed):
    rows, items, output = transformed
    assert rows[0][features.RATING] == 5.0
    assert items[0][features.ITEM_TEXT] == b"the matrix (1999)"
    assert items[2][features.ITEM_TEXT] == "amélie".encode()
    tag_vocab = output.vocabulary_by_name(preprocessing.ITEM_TAGS_VOCAB)
    assert sorted(tag_vocab[i] for i in items[1][features.ITEM_TAGS]) == [b"crime", b"drama"]
    # The held-out item's tag is known: content reaches a cold-start item.
    assert [tag_vocab[i] for i in items[3][features.ITEM_TAGS]] == [b"documentary"]
