"""The feature block table (models/blocks.py) keeps its contract for every entry."""
import numpy as np
import pytest
import tensorflow as tf

from models import blocks, families, features, layers, towers
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
        features.ITEM_VECTORS: tf.random.normal([9, 4]),
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
    no_content = {name: FULL_SPEC[name] for name in (features.USER_ID, features.ITEM_ID,
                                                    features.HISTORY_ITEM_IDS)}
    with pytest.raises(ValueError, match=r"retrieval: none of the candidate blocks "
                                         r"\['item_text', 'item_tags'\]"):
        blocks.usable(families.get("content").block_names, no_content, "retrieval")


def test_families_name_known_blocks_on_their_own_side():
    for family in families.FAMILIES.values():
        assert blocks.on_side(family.block_names, blocks.QUERY) == list(family.query_blocks)
    with pytest.raises(ValueError, match=r"blocks \['item_id'\] do not describe the query side"):
        families.Family("wrong", query_blocks=("item_id",), candidate_blocks=("item_id",))
    with pytest.raises(ValueError, match="unknown feature block"):
        families.Family("typo", query_blocks=("user_idd",), candidate_blocks=("item_id",))


def test_towers_sum_their_blocks_and_keep_biases_apart():
    query_tower, item_tower = towers.build_towers(
        ["history_bag", "user_features", "item_id", "item_tags", "item_bias"], _context())
    batch = _transformed_batch()
    vectors, bias = item_tower(batch)
    assert vectors.shape == (BATCH, 4) and bias.shape == (BATCH,)
    expected = sum(block(batch) for block in item_tower.vector_blocks)
    np.testing.assert_allclose(vectors.numpy(), expected.numpy(), rtol=1e-6)
    query = query_tower(batch)
    expected = sum(block(batch) for block in query_tower.blocks) + query_tower.offset
    np.testing.assert_allclose(query.numpy(), expected.numpy(), rtol=1e-6)
    # The exported vectors' dot product is the score: query . item + bias.
    scores = towers.query_score_vector(query) @ tf.transpose(
        towers.item_score_vectors(vectors, bias))
    np.testing.assert_allclose(scores.numpy(), (query @ tf.transpose(vectors) + bias).numpy(),
                               rtol=1e-5, atol=1e-6)


def test_history_bag_is_the_scaled_sum_of_the_history_items_vectors():
    layer = blocks.build("history_bag", _context())
    batch = _transformed_batch()
    bag = layer(batch).numpy()
    vectors = batch[features.ITEM_VECTORS].numpy()
    np.testing.assert_allclose(bag[0], (vectors[1] + vectors[2]) / np.sqrt(2), rtol=1e-5)
    np.testing.assert_allclose(bag[1], vectors[3], rtol=1e-5)  # from_dense drops the 0 ids
    np.testing.assert_allclose(bag[2], 0.0)  # an empty history
    scaled = layer({**batch, features.HISTORY_BAG_SCALE: tf.constant([2.0, 1.0, 1.0])}).numpy()
    np.testing.assert_allclose(scaled[0], 2 * bag[0], rtol=1e-5)


def test_sequence_block_starts_as_a_no_op_and_reads_the_order():
    layer = blocks.build("history_sequence", _context())
    batch = _transformed_batch()
    np.testing.assert_allclose(layer(batch).numpy(), 0.0)  # zero-initialised output
    layer.projection.kernel.assign(tf.random.normal(layer.projection.kernel.shape))
    reversed_history = {**batch, features.HISTORY_ITEM_IDS: tf.sparse.from_dense(
        tf.constant([[2, 1], [0, 3], [0, 0]], tf.int64))}
    assert not np.allclose(layer(batch).numpy()[:2], layer(reversed_history).numpy()[:2])


def test_id_dropout_replaces_ids_by_the_oov_id_only_in_training():
    layer = blocks.build("item_id", _context())  # id_dropout 0.5
    ids = {features.ITEM_ID: tf.zeros([2000], tf.int64)}
    oov_row = layer.embedding(tf.constant([8]))[0].numpy()
    inference = layer(ids, training=False).numpy()
    training = layer(ids, training=True).numpy()
    assert not np.any(np.all(inference == oov_row, axis=1))
    assert 0.4 < np.mean(np.all(training == oov_row, axis=1)) < 0.6


def test_item_item_weighs_history_items_by_decay_to_the_power_of_their_recency_rank():
    layer = layers.ItemItem(features.HISTORY_ITEM_IDS, vocab_size=5)
    # Row 0 lost positions 1 and 3 (held out, as a carve leaves them): ranks stay 0, 1, 2.
    history = tf.SparseTensor([[0, 0], [0, 2], [0, 4], [1, 0]],
                              tf.constant([3, 1, 2, 1], tf.int64), [2, 5])
    layer.decay.assign(0.5)
    weights = layer.history_weights({features.HISTORY_ITEM_IDS: history}).numpy()
    np.testing.assert_allclose(weights, [[0, 0.5, 0.25, 1, 0], [0, 1, 0, 0, 0]])
    matrix = np.arange(25, dtype=np.float32).reshape(5, 5)
    layer.matrix.assign(matrix)
    layer.scale.assign(2.0)
    np.testing.assert_allclose(layer({features.HISTORY_ITEM_IDS: history}).numpy(),
                               2.0 * weights @ matrix, rtol=1e-6)
    # decay 1: each history item counts once, whatever its place.
    layer.decay.assign(1.0)
    np.testing.assert_allclose(layer.history_weights({features.HISTORY_ITEM_IDS: history}),
                               [[0, 1, 1, 1, 0], [0, 1, 0, 0, 0]])
