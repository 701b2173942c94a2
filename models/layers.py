"""The Keras layers that feature blocks build (models/blocks.py says which block builds which).

Each layer is called on the dict of transformed features (plus the item text
embedding the trainer adds) and returns one float vector per example, `[batch, dim]`.
"""
from typing import Dict, Sequence

import numpy as np
import tensorflow as tf
import tf_keras

from models import features
from models.transform import preprocessing

_CATEGORICAL_DIM = 8


class IdEmbedding(tf_keras.layers.Layer):
    """Embeds one integer id per example (`[batch]` -> `[batch, dim]`).

    Args:
      feature: the transformed id feature (vocabulary indices, the OOV bucket last).
      vocab_size: rows of the table, the OOV bucket included.
      dim: embedding size.
      dropout: in training, the share of examples whose id is replaced by the OOV
        id, so that the other blocks learn to stand in for it.
    """

    def __init__(self, feature: str, vocab_size: int, dim: int, dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.feature = feature
        self.oov_id = vocab_size - 1
        self.dropout = dropout
        self.embedding = tf_keras.layers.Embedding(vocab_size, dim)

    def call(self, inputs: Dict[str, tf.Tensor], training: bool = False) -> tf.Tensor:
        ids = inputs[self.feature]
        if training and self.dropout > 0:
            dropped = tf.random.uniform(tf.shape(ids)) < self.dropout
            ids = tf.where(dropped, tf.cast(self.oov_id, ids.dtype), ids)
        return self.embedding(ids)


def _as_sparse(ids) -> tf.SparseTensor:
    return ids if isinstance(ids, tf.SparseTensor) else tf.sparse.from_dense(ids)


class PooledIdEmbedding(tf_keras.layers.Layer):
    """Mean of the embeddings of a variable-length id list (`[batch, None]`); zeros when empty."""

    def __init__(self, feature: str, vocab_size: int, dim: int, **kwargs):
        super().__init__(**kwargs)
        self.feature = feature
        self.embedding = tf_keras.layers.Embedding(vocab_size, dim)

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

    def __init__(self, dim: int, **kwargs):
        super().__init__(**kwargs)
        self.projection = tf_keras.layers.Dense(dim)

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
