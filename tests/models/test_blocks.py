"""The feature block table (models/blocks.py) keeps its contract for every entry."""
import numpy as np
import pytest
import tensorflow as tf

from models import blocks, families, features, towers
from models.transform import preprocessing

BATCH = 3
TEXT_DIM = 5

# A raw feature spec with every kind of feature the blocks read.
FULL_SPEC = {
    features.USER_ID: tf.io.FixedLenFeature([1], tf.string),
    features.ITEM_ID: tf.io.FixedLenFeature([1], tf.string),
    features.HISTORY_ITEM_IDS: tf.io.VarLenFeature(tf.string),
    features.ITEM_TAGS: tf.io.VarLenFeature(tf.string),
    features.ITEM_TEXT: tf.io.FixedLenFeature([1], tf.string),
    "user_gender": tf.io.FixedLenFeature([1], tf.string),
    "user_age": tf.io.FixedLenFeature([1], tf.float32),
    "item_year": tf.io.FixedLenFeature([1], tf.float32),
}


def _context(item_text_table=None):
    return blocks.BlockContext(
        embedding_dim=4,
        vocab_sizes={features.USER_ID: 6, features.ITEM_ID: 9, features.ITEM_TAGS: 4,
                     "user_gender": 3},
        user_categorical=["user_gender"], user_numeric=["user_age"], item_numeric=["item_year"],
        item_text_table=item_text_table, id_dropout=0.5)


def _transformed_batch():
    """What the Transform graph gives for FULL_SPEC, plus the item text embedding."""
    def ids(high):
        return tf.constant([0, 1, high - 1], tf.int64)

    return {
        features.USER_ID: ids(6), features.ITEM_ID: ids(9), "user_gender": ids(3),
        features.HISTORY_ITEM_IDS: tf.sparse.from_dense(tf.constant([[1, 2], [3, 0], [0, 0]],
                                                                    tf.int64)),
        features.ITEM_TAGS: tf.sparse.from_dense(tf.constant([[1], [0], [2]], tf.int64)),
        "user_age": tf.constant([-1.0, 0.0, 2.0]),
        preprocessing.bucket_feature_name("user_age"): tf.constant([0, 3, 9], tf.int64),
        "item_year": tf.constant([0.5, 0.0, -0.5]),
        preprocessing.bucket_feature_name("item_year"): tf.constant([1, 1, 10], tf.int64),
        features.ITEM_TEXT_EMBEDDING: tf.random.normal([BATCH, TEXT_DIM]),
    }


@pytest.mark.parametrize("name", sorted(blocks.BLOCKS))
def test_every_block_builds_a_layer_that_returns_one_vector_per_example(name):
    context = _context(item_text_table=np.ones((9, TEXT_DIM), np.float32))
    layer = blocks.build(name, context)
    assert layer.name == name
    for training in (False, True):
        vectors = layer(_transformed_batch(), training=training)
        assert vectors.dtype == tf.float32
        assert vectors.shape.rank == 2 and vectors.shape[0] == BATCH
    assert blocks.get(name).side in (blocks.QUERY, blocks.CANDIDATE)
    assert blocks.is_available(name, FULL_SPEC)


def test_text_blocks_need_the_item_text_table():
    assert blocks.needs_text(["user_id", "history_text"])
    assert not blocks.needs_text(["user_id", "history", "item_id", "item_tags"])
    with pytest.raises(ValueError, match="needs item text embeddings"):
        blocks.build("item_text", _context(item_text_table=None))


def test_raw_features_are_read_once_in_block_order():
    assert blocks.raw_features(["history", "user_features", "history_text", "item_numeric"],
                               FULL_SPEC) == [
        features.HISTORY_ITEM_IDS, "user_age", "user_gender", "item_year"]
    with pytest.raises(ValueError, match="unknown feature block 'item_idd'"):
        blocks.raw_features(["item_idd"], FULL_SPEC)


def test_blocks_without_their_features_in_the_data_are_left_out():
    ids_only = {name: FULL_SPEC[name] for name in (features.USER_ID, features.ITEM_ID,
                                                  "item_year")}
    asked = ["user_id", "user_features", "history", "item_id", "item_tags", "item_numeric"]
    assert blocks.usable(asked, ids_only, "test") == ["user_id", "item_id", "item_numeric"]
    # A string item field is not numeric: item_numeric has nothing to read.
    no_numbers = {**ids_only, "item_year": tf.io.FixedLenFeature([1], tf.string)}
    assert blocks.usable(asked, no_numbers, "test") == ["user_id", "item_id"]


def test_a_side_left_without_blocks_fails_naming_them():
    no_user_fields = {name: FULL_SPEC[name] for name in (features.USER_ID, features.ITEM_ID,
                                                        features.ITEM_TEXT)}
    with pytest.raises(ValueError, match=r"retrieval: none of the query blocks "
                                         r"\['history_text', 'user_features'\]"):
        blocks.usable(families.get("content").block_names, no_user_fields, "retrieval")


def test_families_name_known_blocks_on_their_own_side():
    for family in families.FAMILIES.values():
        assert blocks.on_side(family.block_names, blocks.QUERY) == list(family.query_blocks)
    with pytest.raises(ValueError, match=r"blocks \['item_id'\] do not describe the query side"):
        families.Family("wrong", query_blocks=("item_id",), candidate_blocks=("item_id",))
    with pytest.raises(ValueError, match="unknown feature block"):
        families.Family("typo", query_blocks=("user_idd",), candidate_blocks=("item_id",))


def test_tower_of_several_blocks_projects_to_unit_vectors():
    tower = towers.build_tower(["user_id", "history", "user_features"], _context(), "query_tower")
    embeddings = tower(_transformed_batch()).numpy()
    assert embeddings.shape == (BATCH, 4)
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, rtol=1e-5)


def test_id_dropout_replaces_ids_by_the_oov_id_only_in_training():
    layer = blocks.build("item_id", _context())  # id_dropout 0.5
    ids = {features.ITEM_ID: tf.zeros([2000], tf.int64)}
    oov_row = layer.embedding(tf.constant([8]))[0].numpy()
    inference = layer(ids, training=False).numpy()
    training = layer(ids, training=True).numpy()
    assert not np.any(np.all(inference == oov_row, axis=1))
    assert 0.4 < np.mean(np.all(training == oov_row, axis=1)) < 0.6
