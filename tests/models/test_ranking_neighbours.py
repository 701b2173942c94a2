"""The ranking model's neighbour pools (models/ranking/neighbours.py)."""
import numpy as np
import tensorflow as tf

from models import features
from models.ranking.neighbours import Neighbours, TrainPairs

# Users 0..2 (2 is the OOV index: no pairs), items 0..3 (3 is OOV).
USERS = np.array([1, 0, 0, 1])
ITEMS = np.array([2, 1, 0, 0])
RATINGS = np.array([5.0, 4.0, 2.0, 1.0])
PAIRS = TrainPairs(USERS, ITEMS, RATINGS)


def test_tables_group_pairs_by_user_and_by_item():
    users = PAIRS.by_user(num_users=3)
    np.testing.assert_array_equal(users.row_splits, [0, 2, 4, 4])
    np.testing.assert_array_equal(users.neighbours, [0, 1, 0, 2])
    np.testing.assert_array_equal(users.ratings, [2.0, 4.0, 1.0, 5.0])
    items = PAIRS.by_item(num_items=4)
    np.testing.assert_array_equal(items.row_splits, [0, 2, 3, 4, 4])
    np.testing.assert_array_equal(items.neighbours, [0, 1, 0, 1])
    np.testing.assert_array_equal(items.ratings, [2.0, 1.0, 4.0, 5.0])


def _layer(rating_offset=None):
    layer = Neighbours(features.USER_ID, features.ITEM_ID,
                       PAIRS.by_user(num_users=3),
                       neighbour_vocab_size=4, dim=2, rating_offset=rating_offset)
    layer.build(None)
    layer.implicit.embeddings.assign([[1.0, 0.0], [0.0, 1.0], [2.0, 2.0], [9.0, 9.0]])
    if layer.explicit is not None:
        layer.explicit.embeddings.assign([[1.0, 1.0], [1.0, -1.0], [3.0, 0.0], [9.0, 9.0]])
    return layer


def test_pools_neighbours_and_centred_ratings_by_sqrt_n():
    inputs = {features.USER_ID: tf.constant([0, 1, 2], tf.int64),
              features.ITEM_ID: tf.constant([3, 3, 3], tf.int64)}
    pooled = _layer(rating_offset=3.0)(inputs).numpy()
    root2 = np.sqrt(2.0)
    np.testing.assert_allclose(pooled, [
        # user 0: items 0 (rated 2) and 1 (rated 4)
        [1 / root2, 1 / root2, (-1 * 1 + 1 * 1) / root2, (-1 * 1 + 1 * -1) / root2],
        # user 1: items 0 (rated 1) and 2 (rated 5)
        [3 / root2, 2 / root2, (-2 * 1 + 2 * 3) / root2, (-2 * 1 + 2 * 0) / root2],
        [0, 0, 0, 0],  # the OOV user has no neighbours
    ], rtol=1e-6)


def test_training_leaves_the_examples_own_pair_out():
    layer = _layer()
    inputs = {features.USER_ID: tf.constant([0, 0], tf.int64),
              features.ITEM_ID: tf.constant([1, 2], tf.int64)}
    np.testing.assert_allclose(layer(inputs, training=True).numpy(),
                               [[1.0, 0.0],  # item 1 left out: item 0 alone
                                [1 / np.sqrt(2), 1 / np.sqrt(2)]], rtol=1e-6)
    np.testing.assert_allclose(layer(inputs, training=False).numpy(),
                               [[1 / np.sqrt(2), 1 / np.sqrt(2)]] * 2, rtol=1e-6)
