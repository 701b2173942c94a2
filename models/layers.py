"""The Keras layers that feature blocks build (models/blocks.py says which block builds which).

Each layer is called on the dict of transformed features (plus what the
trainer adds: the item text embedding; for the retrieval query, the item
vectors) and returns one float vector per example, `[batch, dim]`.
"""
from typing import Dict, Sequence

import numpy as np
import tensorflow as tf
import tf_keras

from models import features, id_lists
from models.transform import preprocessing

_CATEGORICAL_DIM = 8


def _l2(weight: float):
    return tf_keras.regularizers.L2(weight) if weight else None


class IdEmbedding(tf_keras.layers.Layer):
    """Embeds one integer id per example (`[batch]` -> `[batch, dim]`).

    Args:
      feature: the transformed id feature (vocabulary indices, the OOV bucket last).
      vocab_size: rows of the table, the OOV bucket included.
      dim: embedding size.
      dropout: in training, the share of examples whose id is replaced by the OOV
        id, so that the other blocks learn to stand in for it.
      l2: L2 penalty on the table.
      initializer: of the table (Keras's default: uniform in [-0.05, 0.05]).
    """

    def __init__(self, feature: str, vocab_size: int, dim: int, dropout: float = 0.0,
                 l2: float = 0.0, initializer="uniform", **kwargs):
        super().__init__(**kwargs)
        self.feature = feature
        self.oov_id = vocab_size - 1
        self.dropout = dropout
        self.l2 = l2
        self.penalizes_looked_up_rows = False
        self.embedding = tf_keras.layers.Embedding(
            vocab_size, dim, embeddings_initializer=initializer, embeddings_regularizer=_l2(l2))

    def penalize_looked_up_rows(self) -> None:
        """Moves the L2 penalty from the whole table to the rows each call looks up
        (before id dropout), once each: the same penalty for a call over every id,
        and no pass over the whole table (nor a gradient on every row) for a call
        over a few. Call it before the layer is built."""
        if self.built:
            raise RuntimeError(f"{self.name} is built: its table already has its regularizer")
        self.embedding.embeddings_regularizer = None
        self.penalizes_looked_up_rows = True

    def call(self, inputs: Dict[str, tf.Tensor], training: bool = False) -> tf.Tensor:
        ids = inputs[self.feature]
        if self.penalizes_looked_up_rows and self.l2:
            looked_up, _ = tf.unique(tf.reshape(ids, [-1]))
            self.add_loss(self.l2 * tf.reduce_sum(tf.square(self.embedding(looked_up))))
        if training and self.dropout > 0:
            dropped = tf.random.uniform(tf.shape(ids)) < self.dropout
            ids = tf.where(dropped, tf.cast(self.oov_id, ids.dtype), ids)
        return self.embedding(ids)


def _as_sparse(ids) -> tf.SparseTensor:
    return ids if isinstance(ids, tf.SparseTensor) else tf.sparse.from_dense(ids)


def _item_vector_rows(inputs: Dict[str, tf.Tensor], ids) -> tf.SparseTensor:
    """The rows of `features.ITEM_VECTORS` that hold these items (their vocabulary
    indices, unless `features.ITEM_VECTOR_ROWS` maps them)."""
    ids = _as_sparse(ids)
    rows = inputs.get(features.ITEM_VECTOR_ROWS)
    if rows is None:
        return ids
    return tf.SparseTensor(ids.indices, tf.gather(rows, ids.values), ids.dense_shape)


class PooledIdEmbedding(tf_keras.layers.Layer):
    """Mean of the embeddings of a variable-length id list (`[batch, None]`); zeros when empty."""

    def __init__(self, feature: str, vocab_size: int, dim: int, l2: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.feature = feature
        self.embedding = tf_keras.layers.Embedding(vocab_size, dim,
                                                   embeddings_regularizer=_l2(l2))

    def build(self, input_shape):
        self.embedding.build(None)
        super().build(input_shape)

    def call(self, inputs: Dict[str, tf.Tensor]) -> tf.Tensor:
        return tf.nn.safe_embedding_lookup_sparse(
            self.embedding.embeddings, _as_sparse(inputs[self.feature]), combiner="mean")


class PooledItemText(tf_keras.layers.Layer):
    """Mean text embedding of a list of item ids (e.g. the history), projected to dim.

    Args:
      feature: a transformed list of item vocabulary indices.
      item_text_table: `[item vocabulary + OOV, text dim]`, the text embedding of each
        item (models/catalogue.py::item_text_table); held as a constant.
      dim: output size.
    """

    def __init__(self, feature: str, item_text_table: np.ndarray, dim: int, **kwargs):
        super().__init__(**kwargs)
        self.feature = feature
        self.table = tf.Variable(item_text_table, trainable=False, name="item_text_table")
        self.projection = tf_keras.layers.Dense(dim)

    def call(self, inputs: Dict[str, tf.Tensor]) -> tf.Tensor:
        pooled = tf.nn.safe_embedding_lookup_sparse(
            self.table, _as_sparse(inputs[self.feature]), combiner="mean")
        return self.projection(pooled)


class ItemText(tf_keras.layers.Layer):
    """Projects the item's sentence embedding (from the text encoder) to dim."""

    def __init__(self, dim: int, l2: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.projection = tf_keras.layers.Dense(dim, kernel_regularizer=_l2(l2))

    def call(self, inputs: Dict[str, tf.Tensor]) -> tf.Tensor:
        return self.projection(inputs[features.ITEM_TEXT_EMBEDDING])


class FieldFeatures(tf_keras.layers.Layer):
    """Categorical fields as small embeddings, numeric ones as z-score and bucket, projected.

    Args:
      categorical: transformed categorical features (vocabulary indices).
      numeric: numeric features; each reads its z-score and its bucket
        (preprocessing.bucket_feature_name).
      vocab_sizes: table size of each categorical feature, the OOV bucket included.
      dim: output size.
    """

    def __init__(self, categorical: Sequence[str], numeric: Sequence[str],
                 vocab_sizes: Dict[str, int], dim: int, **kwargs):
        super().__init__(**kwargs)
        self.categorical = {name: tf_keras.layers.Embedding(vocab_sizes[name], _CATEGORICAL_DIM)
                            for name in categorical}
        self.buckets = {
            name: tf_keras.layers.Embedding(preprocessing.NUM_NUMERIC_BUCKETS + 1, _CATEGORICAL_DIM)
            for name in numeric}
        self.projection = tf_keras.layers.Dense(dim)

    def call(self, inputs: Dict[str, tf.Tensor]) -> tf.Tensor:
        parts = [layer(inputs[name]) for name, layer in self.categorical.items()]
        for name, layer in self.buckets.items():
            parts.append(layer(inputs[preprocessing.bucket_feature_name(name)]))
            parts.append(tf.reshape(tf.cast(inputs[name], tf.float32), [-1, 1]))
        return self.projection(tf.concat(parts, axis=-1))


class ItemBias(tf_keras.layers.Layer):
    """A learned score offset per item id (`[batch, 1]`), zero at first: what makes
    an item likely for anyone (its popularity), so that item vectors need not carry it."""

    def __init__(self, feature: str, vocab_size: int, **kwargs):
        super().__init__(**kwargs)
        self.feature = feature
        self.bias = tf_keras.layers.Embedding(vocab_size, 1, embeddings_initializer="zeros")

    def call(self, inputs: Dict[str, tf.Tensor], training: bool = False) -> tf.Tensor:
        return self.bias(inputs[self.feature])


class HistoryBag(tf_keras.layers.Layer):
    """The user as the sum of the vectors of the items in their history, over sqrt(length).

    Item vectors are the retrieval model's own candidate vectors
    (`features.ITEM_VECTORS`, `[item vocabulary + OOV, dim]`), so users and items
    live in one space and an item's score is a sum of one term per history item
    (as in FISM, or Mult-DAE with tied weights): the `explain` signature reports
    those terms. An empty history gives zeros. In training, `features.HISTORY_BAG_SCALE`
    (when given) rescales a history with dropped items to the whole one's scale.

    Args:
      feature: the transformed history (item vocabulary indices, `[batch, None]`).
    """

    def __init__(self, feature: str, **kwargs):
        super().__init__(**kwargs)
        self.feature = feature

    def call(self, inputs: Dict[str, tf.Tensor], training: bool = False) -> tf.Tensor:
        bag = tf.nn.safe_embedding_lookup_sparse(
            inputs[features.ITEM_VECTORS], _item_vector_rows(inputs, inputs[self.feature]),
            combiner="sqrtn")
        if features.HISTORY_BAG_SCALE in inputs:
            bag *= inputs[features.HISTORY_BAG_SCALE][:, tf.newaxis]
        return bag


class HistorySequence(tf_keras.layers.Layer):
    """A Transformer encoder block over the user's `length` most recent items.

    Reads the item vectors of the most recent history items (most recent first,
    as the history is stored) plus a learned embedding of each recency rank,
    attends over them (self-attention, padding masked) and returns the output
    at the most recent position, projected by a zero-initialised Dense layer so
    that the block starts as a no-op beside the others. keras-hub's
    TransformerEncoder is Keras 3 and cannot live in this tf_keras model, so
    the block is built from tf_keras's MultiHeadAttention.

    Args:
      feature: the transformed history (item vocabulary indices, `[batch, None]`).
      length: how many recent items the block reads.
      dim: the item vectors' size.
      heads: attention heads (dim must divide by it).
      dropout: attention and feed-forward dropout in training.
    """

    def __init__(self, feature: str, length: int, dim: int, heads: int = 2,
                 dropout: float = 0.1, **kwargs):
        super().__init__(**kwargs)
        self.feature = feature
        self.length = length
        self.positions = tf_keras.layers.Embedding(
            length, dim, embeddings_initializer=tf_keras.initializers.RandomNormal(stddev=0.02))
        self.input_norm = tf_keras.layers.LayerNormalization()
        self.attention = tf_keras.layers.MultiHeadAttention(heads, dim // heads, dropout=dropout)
        self.attention_norm = tf_keras.layers.LayerNormalization()
        self.feed_forward = tf_keras.Sequential([
            tf_keras.layers.Dense(dim, activation="gelu"), tf_keras.layers.Dropout(dropout),
            tf_keras.layers.Dense(dim)])
        self.output_norm = tf_keras.layers.LayerNormalization()
        self.projection = tf_keras.layers.Dense(dim, kernel_initializer="zeros")

    def call(self, inputs: Dict[str, tf.Tensor], training: bool = False) -> tf.Tensor:
        ids = _item_vector_rows(inputs, inputs[self.feature])
        rank = id_lists.ranks(ids)
        recent = rank < self.length
        rows = tf.boolean_mask(ids.indices[:, 0], recent)
        positions = tf.stack([rows, tf.boolean_mask(rank, recent)], axis=1)
        shape = tf.stack([ids.dense_shape[0], self.length])
        items = tf.scatter_nd(positions, tf.boolean_mask(ids.values, recent), shape)
        valid = tf.scatter_nd(positions, tf.ones_like(rows, tf.int32), shape) > 0
        x = tf.gather(inputs[features.ITEM_VECTORS], items) + self.positions(tf.range(self.length))
        x = self.input_norm(x)
        # Only the most recent position's output is read: it alone attends (one
        # layer, so the other positions' outputs would feed nothing).
        latest = x[:, :1]
        latest = self.attention_norm(latest + self.attention(
            latest, x, attention_mask=valid[:, tf.newaxis, :], training=training))
        latest = self.output_norm(latest + self.feed_forward(latest, training=training))
        return self.projection(latest[:, 0]) * tf.cast(valid[:, :1], x.dtype)


class ItemItem(tf_keras.layers.Layer):
    """A full-rank item x item term of the retrieval score (the `item_item` block).

    For a user with history items j (most recent first, at rank r_j) and a
    candidate i it adds `sum_j decay^r_j * scale * W[j, i]`: `history_weights`
    (each vocabulary item's summed `decay^r` in the history, `[batch,
    vocabulary]`) times `item_columns` (`scale * W[:, i]` of each candidate).
    A decay below 1 lets recent items speak louder, which is what a temporal
    split rewards; 1 weighs the whole history alike. W has a zero diagonal (an
    item never predicts itself) and zero rows and columns for the OOV bucket. It
    is not trained with the towers: models/retrieval/item_item.py sets W to
    EASE's closed form (Steck, WWW 2019) over the fitted histories and picks
    `decay` and `scale` on the validation carve, so the score blends the two
    models. It holds vocabulary² floats.

    Args:
      feature: the transformed history (item vocabulary indices, `[batch, None]`).
      vocab_size: the item vocabulary's size, the OOV bucket included.
    """

    def __init__(self, feature: str, vocab_size: int, **kwargs):
        super().__init__(**kwargs)
        self.feature = feature
        self.vocab_size = vocab_size
        self.matrix = self.add_weight("matrix", [vocab_size, vocab_size], initializer="zeros",
                                      trainable=False)
        self.scale = self.add_weight("scale", [], initializer="zeros", trainable=False)
        self.decay = self.add_weight("decay", [], initializer="ones", trainable=False)

    def _weighted_history(self, inputs: Dict[str, tf.Tensor], decay=None) -> tf.SparseTensor:
        """`[batch, vocabulary]` sparse: `decay^rank` at each history item (`decay`
        defaults to the layer's)."""
        ids = _as_sparse(inputs[self.feature])
        decay = self.decay if decay is None else decay
        return tf.SparseTensor(
            tf.stack([ids.indices[:, 0], tf.cast(ids.values, tf.int64)], axis=1),
            tf.pow(decay, tf.cast(id_lists.ranks(ids), tf.float32)),
            tf.stack([ids.dense_shape[0], self.vocab_size]))

    def history_weights(self, inputs: Dict[str, tf.Tensor]) -> tf.Tensor:
        """`[batch, vocabulary]`: each vocabulary item's summed `decay^rank` in the history."""
        weighted = self._weighted_history(inputs)
        return tf.scatter_nd(weighted.indices, weighted.values, weighted.dense_shape)

    def item_columns(self, item_ids: tf.Tensor) -> tf.Tensor:
        """`[batch, vocabulary]`: `scale * W[:, i]` of each item vocabulary index i."""
        return self.scale * tf.gather(tf.transpose(self.matrix), tf.reshape(item_ids, [-1]))

    def unscaled(self, inputs: Dict[str, tf.Tensor], matrix=None, decay=None) -> tf.Tensor:
        """`[batch, vocabulary]`: the term at scale 1 for every vocabulary item (OOV last),
        with the layer's matrix and decay unless given. A history holds a few of the
        vocabulary's items, so the product is sparse x dense."""
        return tf.sparse.sparse_dense_matmul(self._weighted_history(inputs, decay),
                                             self.matrix if matrix is None else matrix)

    def call(self, inputs: Dict[str, tf.Tensor], training: bool = False) -> tf.Tensor:
        """`[batch, vocabulary]`: the term for every vocabulary item (the OOV one last);
        zeros, without the product, while the scale is 0 (the towers' training and
        model selection)."""
        return tf.cond(
            tf.equal(self.scale, 0.0),
            lambda: tf.zeros(tf.stack([_as_sparse(inputs[self.feature]).dense_shape[0],
                                       self.vocab_size])),
            lambda: self.scale * self.unscaled(inputs))
