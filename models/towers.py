"""Query and candidate towers assembled from feature blocks.

A block turns some transformed features into a vector: an ID embedding is
collaborative filtering, a text embedding is content, both is hybrid. A tower
concatenates its blocks and, when there is more than one, projects them to the
shared embedding size.
"""
import os
from typing import Dict, List, Sequence

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402

from models import features  # noqa: E402


# Raw features each block reads, i.e. the inputs its tower needs at serving time.
BLOCK_RAW_FEATURES: Dict[str, Sequence[str]] = {
    "user_id": (features.USER_ID,),
    "history": (features.HISTORY_ITEM_IDS,),
    "item_id": (features.ITEM_ID,),
}


class IdEmbedding(tf_keras.layers.Layer):
    """Embeds one integer id per example ([B] -> [B, dim])."""

    def __init__(self, feature: str, vocab_size: int, dim: int, **kwargs):
        super().__init__(**kwargs)
        self.feature = feature
        self.embedding = tf_keras.layers.Embedding(vocab_size, dim)

    def call(self, inputs: Dict[str, tf.Tensor]) -> tf.Tensor:
        return self.embedding(inputs[self.feature])


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
        ids = inputs[self.feature]
        if not isinstance(ids, tf.SparseTensor):
            ids = tf.sparse.from_dense(ids)
        return tf.nn.safe_embedding_lookup_sparse(
            self.embedding.embeddings, ids, combiner="mean")


class Tower(tf_keras.Model):
    """Concatenates feature blocks and projects them to `output_dim`."""

    def __init__(self, blocks: List[tf_keras.layers.Layer], output_dim: int, **kwargs):
        super().__init__(**kwargs)
        self.blocks = blocks
        self.projection = (
            tf_keras.layers.Dense(output_dim) if len(blocks) > 1 else None)

    def call(self, inputs: Dict[str, tf.Tensor]) -> tf.Tensor:
        parts = [block(inputs) for block in self.blocks]
        x = tf.concat(parts, axis=-1) if len(parts) > 1 else parts[0]
        if self.projection is not None:
            x = self.projection(x)
        return tf.math.l2_normalize(x, axis=-1)


def raw_features_for(block_names: Sequence[str]) -> List[str]:
    """The raw (pre-Transform) features a tower built from these blocks reads."""
    names: List[str] = []
    for block in block_names:
        for name in BLOCK_RAW_FEATURES[block]:
            if name not in names:
                names.append(name)
    return names


def build_block(name: str, vocab_sizes: Dict[str, int], dim: int) -> tf_keras.layers.Layer:
    """Builds block `name`; `vocab_sizes` maps an id feature to its table size."""
    if name == "user_id":
        return IdEmbedding(features.USER_ID, vocab_sizes[features.USER_ID], dim, name="user_id")
    if name == "item_id":
        return IdEmbedding(features.ITEM_ID, vocab_sizes[features.ITEM_ID], dim, name="item_id")
    if name == "history":
        return PooledIdEmbedding(
            features.HISTORY_ITEM_IDS, vocab_sizes[features.ITEM_ID], dim, name="history")
    raise ValueError(f"unknown feature block {name!r}; known blocks: {sorted(BLOCK_RAW_FEATURES)}")


def build_tower(block_names: Sequence[str], vocab_sizes: Dict[str, int], dim: int,
                name: str) -> Tower:
    return Tower([build_block(b, vocab_sizes, dim) for b in block_names], dim, name=name)
