"""What the training ratings say about a user or an item: the pooled embedding of
its neighbours there (a user's rated items, an item's raters) and of their ratings.

For users this is SVD++'s implicit feedback plus the explicit ratings an
AutoRec encoder reads; for items, the same seen from the item. The neighbours
are a table fixed when the model is built from the train split, so serving
needs only the id; an unknown id (the OOV index) has none and pools to zeros.
"""
import dataclasses
from typing import Dict, Optional

import numpy as np
import tensorflow as tf
import tf_keras


@dataclasses.dataclass
class NeighbourTable:
    """Row k: the neighbours (vocabulary indices) of the id with vocabulary index k, and
    the rating of each pair; `row_splits` has a row for every id, the OOV bucket's too."""
    neighbours: np.ndarray   # int64 [pairs], grouped by row
    ratings: np.ndarray      # float32 [pairs]
    row_splits: np.ndarray   # int64 [num_rows + 1]

    @classmethod
    def from_pairs(cls, rows: np.ndarray, neighbours: np.ndarray, ratings: np.ndarray,
                   num_rows: int) -> "NeighbourTable":
        order = np.lexsort((neighbours, rows))
        counts = np.bincount(rows, minlength=num_rows)
        return cls(neighbours[order].astype(np.int64), ratings[order].astype(np.float32),
                   np.concatenate([[0], np.cumsum(counts)]).astype(np.int64))


@dataclasses.dataclass
class TrainPairs:
    """The train split's (user, item) pairs as vocabulary indices, and their ratings."""
    users: np.ndarray
    items: np.ndarray
    ratings: Optional[np.ndarray]  # None without ratings

    def by_user(self, num_users: int) -> NeighbourTable:
        return NeighbourTable.from_pairs(self.users, self.items, self._ratings(), num_users)

    def by_item(self, num_items: int) -> NeighbourTable:
        return NeighbourTable.from_pairs(self.items, self.users, self._ratings(), num_items)

    def _ratings(self) -> np.ndarray:
        return self.ratings if self.ratings is not None else np.zeros(len(self.users))


class Neighbours(tf_keras.layers.Layer):
    """sqrt(n)-pooled embeddings of an id's neighbours, plus (with ratings) of the
    neighbours weighted by their centred rating: `[batch, dim]`.

    In training, the example's own pair (key, exclude) is left out of the pool, as
    it is for an evaluation example, whose rating is not in the table.

    Args:
      key: the transformed id feature whose neighbours are pooled (user_id).
      exclude: the transformed id feature of the example's neighbour (item_id).
      table: the neighbours by key vocabulary index.
      neighbour_vocab_size: rows of the neighbours' embedding table, OOV included.
      dim: embedding size.
      rating_offset: subtracted from ratings (the mean training rating); None
        pools the neighbours alone.
    """

    def __init__(self, key: str, exclude: str, table: NeighbourTable,
                 neighbour_vocab_size: int, dim: int, rating_offset: Optional[float] = None,
                 **kwargs):
        super().__init__(**kwargs)
        self.key = key
        self.reads = key  # the raw feature of the same name
        self.exclude = exclude
        self.neighbours = tf.Variable(table.neighbours, trainable=False, name="neighbours")
        self.ratings = tf.Variable(table.ratings, trainable=False, name="ratings")
        self.row_splits = tf.Variable(table.row_splits, trainable=False, name="row_splits")
        self.rating_offset = rating_offset

        def embedding():
            return tf_keras.layers.Embedding(
                neighbour_vocab_size, dim,
                embeddings_initializer=tf_keras.initializers.RandomNormal(stddev=0.05))

        self.implicit = embedding()
        self.explicit = embedding() if rating_offset is not None else None

    def build(self, input_shape):
        self.implicit.build(None)
        if self.explicit is not None:
            self.explicit.build(None)
        super().build(input_shape)

    def call(self, inputs: Dict[str, tf.Tensor], training: bool = False) -> tf.Tensor:
        keys = inputs[self.key]
        starts = tf.gather(self.row_splits, keys)
        pairs = tf.ragged.range(starts, tf.gather(self.row_splits, keys + 1))
        rows, pairs = pairs.value_rowids(), pairs.flat_values  # example, pair of each entry
        neighbours = tf.gather(self.neighbours, pairs)
        if training:
            keep = neighbours != tf.gather(inputs[self.exclude], rows)
            rows, pairs, neighbours = rows[keep], pairs[keep], neighbours[keep]
        batch_size = tf.shape(keys, out_type=tf.int64)[0]
        counts = tf.math.unsorted_segment_sum(tf.ones_like(rows, tf.float32), rows, batch_size)
        scale = tf.gather(tf.math.rsqrt(tf.maximum(counts, 1.0)), rows)
        indices = tf.stack([rows, neighbours], axis=1)

        def pool(embeddings: tf.Tensor, weights: tf.Tensor) -> tf.Tensor:
            # A [batch, neighbours] sparse matrix times the embeddings: no [batch, n, dim] gather.
            matrix = tf.SparseTensor(indices, weights,
                                     [batch_size, tf.shape(embeddings, out_type=tf.int64)[0]])
            return tf.sparse.sparse_dense_matmul(matrix, embeddings)

        pooled = [pool(self.implicit.embeddings, scale)]
        if self.explicit is not None:
            centred = tf.gather(self.ratings, pairs) - self.rating_offset
            pooled.append(pool(self.explicit.embeddings, scale * centred))
        return tf.concat(pooled, axis=-1)
