"""Query and candidate towers of the retrieval model, assembled from feature blocks.

A tower concatenates its blocks (models/blocks.py) and, when there is more than
one, projects them to the shared embedding size; its output has unit norm, so
the retrieval score is a cosine similarity.
"""
from typing import Dict, List, Sequence

import tensorflow as tf
import tf_keras

from models import blocks


class Tower(tf_keras.Model):
    """Concatenates feature blocks and projects them to `output_dim`, unit norm.

    Args:
      blocks: layers that each map the feature dict to `[batch, dim]`.
      output_dim: the embedding size shared by both towers.
    """

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


def build_tower(block_names: Sequence[str], context: blocks.BlockContext, name: str) -> Tower:
    """A tower of the named blocks.

    Args:
      block_names: entries of blocks.BLOCKS, all of one side.
      context: the data's vocabularies and fields and the embedding size.
      name: "query_tower" or "candidate_tower".

    Returns:
      The tower; call it on a dict of transformed features.

    Example:

    ```python
    context = trainer_lib.block_context(tft_output, embedding_dim=64)
    query_tower = build_tower(["user_id", "history"], context, "query_tower")
    embeddings = query_tower(tft_layer(raw_features))  # [batch, 64], unit norm
    ```
    """
    return Tower([blocks.build(b, context) for b in block_names], context.embedding_dim, name=name)
