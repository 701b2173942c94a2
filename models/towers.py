"""Query and candidate towers assembled from feature blocks.

A block turns some transformed features into a vector: an ID embedding is
collaborative filtering, a text embedding is content, both is hybrid. A tower
concatenates its blocks and, when there is more than one, projects them to the
shared embedding size; its output has unit norm.
"""
import dataclasses
import os
from typing import Dict, List, Optional, Sequence

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_transform as tft  # noqa: E402
import tf_keras  # noqa: E402

from models import features  # noqa: E402
from models.transform import preprocessing  # noqa: E402

_CATEGORICAL_DIM = 8


@dataclasses.dataclass
class TowerContext:
    """What blocks need to know about the data: table sizes, user fields, item texts."""
    embedding_dim: int
    vocab_sizes: Dict[str, int]  # transformed id feature -> table size, OOV bucket included
    user_categorical: List[str]
    user_numeric: List[str]
    # Text embedding of each item, by item vocabulary index (the OOV row is zeros).
    item_text_table: Optional[np.ndarray] = None
    # Share of training examples whose item id is replaced by the OOV id, so
    # that hybrid models learn to score items from their content alone.
    id_dropout: float = 0.0


def context_from_transform(tft_output: tft.TFTransformOutput, embedding_dim: int,
                           item_text_table: Optional[np.ndarray] = None,
                           id_dropout: float = 0.0) -> TowerContext:
    raw_spec = tft_output.raw_feature_spec()
    user_fields = sorted(name for name in raw_spec if features.is_user_feature(name))
    categorical = [name for name in user_fields if raw_spec[name].dtype == tf.string]
    numeric = [name for name in user_fields if raw_spec[name].dtype != tf.string]
    vocab_names = {features.USER_ID: preprocessing.USER_ID_VOCAB,
                   features.ITEM_ID: preprocessing.ITEM_ID_VOCAB,
                   **{name: name for name in categorical}}
    if features.ITEM_TAGS in raw_spec:
        vocab_names[features.ITEM_TAGS] = preprocessing.ITEM_TAGS_VOCAB
    sizes = {name: tft_output.vocabulary_size_by_name(vocab) + preprocessing.NUM_OOV_BUCKETS
             for name, vocab in vocab_names.items()}
    return TowerContext(embedding_dim, sizes, categorical, numeric, item_text_table, id_dropout)


class IdEmbedding(tf_keras.layers.Layer):
    """Embeds one integer id per example ([B] -> [B, dim])."""

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
    """Mean of the embeddings of a variable-length id list; zeros when empty."""

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
    """Mean text embedding of a list of item ids (e.g. the history), projected to dim."""

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


class UserFeatures(tf_keras.layers.Layer):
    """Categorical user fields as small embeddings, numeric ones as z-score and bucket."""

    def __init__(self, context: TowerContext, **kwargs):
        super().__init__(**kwargs)
        self.categorical = {
            name: tf_keras.layers.Embedding(context.vocab_sizes[name], _CATEGORICAL_DIM)
            for name in context.user_categorical}
        self.buckets = {
            name: tf_keras.layers.Embedding(preprocessing.NUM_NUMERIC_BUCKETS + 1, _CATEGORICAL_DIM)
            for name in context.user_numeric}
        self.projection = tf_keras.layers.Dense(context.embedding_dim)

    def call(self, inputs: Dict[str, tf.Tensor]) -> tf.Tensor:
        parts = [layer(inputs[name]) for name, layer in self.categorical.items()]
        for name, layer in self.buckets.items():
            parts.append(layer(inputs[preprocessing.bucket_feature_name(name)]))
            parts.append(tf.reshape(tf.cast(inputs[name], tf.float32), [-1, 1]))
        return self.projection(tf.concat(parts, axis=-1))


class Tower(tf_keras.Model):
    """Concatenates feature blocks and projects them to `output_dim`, unit norm."""

    def __init__(self, blocks: List[tf_keras.layers.Layer], output_dim: int, **kwargs):
        super().__init__(**kwargs)
        self.blocks = blocks
        self.projection = tf_keras.layers.Dense(output_dim) if len(blocks) > 1 else None

    def call(self, inputs: Dict[str, tf.Tensor], training: bool = False) -> tf.Tensor:
        parts = [block(inputs, training=training) for block in self.blocks]
        x = tf.concat(parts, axis=-1) if len(parts) > 1 else parts[0]
        if self.projection is not None:
            x = self.projection(x)
        return tf.math.l2_normalize(x, axis=-1)


TEXT_BLOCKS = ("item_text", "history_text")


def raw_features_for(block_names: Sequence[str], raw_feature_spec) -> List[str]:
    """The raw (pre-Transform) features a tower built from these blocks reads."""
    user_fields = sorted(name for name in raw_feature_spec if features.is_user_feature(name))
    reads = {
        "user_id": [features.USER_ID],
        "item_id": [features.ITEM_ID],
        "history": [features.HISTORY_ITEM_IDS],
        "history_text": [features.HISTORY_ITEM_IDS],
        "item_tags": [features.ITEM_TAGS],
        "item_text": [features.ITEM_TEXT],
        "user_features": user_fields,
    }
    names: List[str] = []
    for block in block_names:
        if block not in reads:
            raise ValueError(f"unknown feature block {block!r}; known blocks: {sorted(reads)}")
        names.extend(name for name in reads[block] if name not in names)
    return names


def build_block(name: str, context: TowerContext) -> tf_keras.layers.Layer:
    dim, sizes = context.embedding_dim, context.vocab_sizes
    if name == "user_id":
        return IdEmbedding(features.USER_ID, sizes[features.USER_ID], dim, name=name)
    if name == "item_id":
        return IdEmbedding(features.ITEM_ID, sizes[features.ITEM_ID], dim,
                           dropout=context.id_dropout, name=name)
    if name == "history":
        return PooledIdEmbedding(features.HISTORY_ITEM_IDS, sizes[features.ITEM_ID], dim, name=name)
    if name == "item_tags":
        return PooledIdEmbedding(features.ITEM_TAGS, sizes[features.ITEM_TAGS], dim, name=name)
    if name == "user_features":
        return UserFeatures(context, name=name)
    if name in TEXT_BLOCKS and context.item_text_table is None:
        raise ValueError(f"block {name!r} needs item text embeddings (a text encoder)")
    if name == "item_text":
        return ItemText(dim, name=name)
    if name == "history_text":
        return PooledItemText(features.HISTORY_ITEM_IDS, context.item_text_table, dim, name=name)
    raise ValueError(f"unknown feature block {name!r}")


def build_tower(block_names: Sequence[str], context: TowerContext, name: str) -> Tower:
    return Tower([build_block(b, context) for b in block_names], context.embedding_dim, name=name)
