"""The retrieval model's two towers, assembled from feature blocks (models/blocks.py).

The item tower sums its vector blocks into one item vector and its score-bias
blocks into one bias; the query tower sums its blocks (each `[batch, dim]`)
and a learned offset. The score of an item for a user is `query . item + bias`,
exported as two `dim + 1` vectors so that TF Serving's dot-product index (and
any other) ranks with it unchanged. An item-item block (blocks.BlockSpec.item_item)
is no part of either tower; its term joins the same dot product as a third
part of both vectors (history counts . the item's weight column). No normalisation: item vectors' norms and
biases carry how likely an item is for anyone.
"""
from typing import Dict, List, Optional, Sequence, Tuple

import tensorflow as tf
import tf_keras

from models import blocks


class ItemTower(tf_keras.layers.Layer):
    """Item features -> (vectors `[batch, dim]`, bias `[batch]`).

    Args:
      vector_blocks: layers mapping the feature dict to `[batch, dim]`, summed.
      bias_blocks: layers mapping it to `[batch, 1]`, summed into the bias.
    """

    def __init__(self, vector_blocks: List[tf_keras.layers.Layer],
                 bias_blocks: List[tf_keras.layers.Layer], **kwargs):
        super().__init__(**kwargs)
        self.vector_blocks = vector_blocks
        self.bias_blocks = bias_blocks

    def call(self, inputs: Dict[str, tf.Tensor], training: bool = False
             ) -> Tuple[tf.Tensor, tf.Tensor]:
        vectors = tf.add_n([block(inputs, training=training) for block in self.vector_blocks])
        if not self.bias_blocks:
            return vectors, tf.zeros(tf.shape(vectors)[:1])
        bias = tf.add_n([block(inputs, training=training) for block in self.bias_blocks])
        return vectors, tf.reshape(bias, [-1])


class QueryTower(tf_keras.layers.Layer):
    """User features (and the item vectors the history blocks pool) -> `[batch, dim]`.

    Args:
      blocks: layers mapping the feature dict to `[batch, dim]`, summed.
      dim: the embedding size.
    """

    def __init__(self, blocks: List[tf_keras.layers.Layer], dim: int, **kwargs):
        super().__init__(**kwargs)
        self.blocks = blocks
        self.offset = self.add_weight("offset", [dim], initializer="zeros")

    def call(self, inputs: Dict[str, tf.Tensor], training: bool = False) -> tf.Tensor:
        return tf.add_n([block(inputs, training=training) for block in self.blocks]) + self.offset


def build_towers(block_names: Sequence[str], context: blocks.BlockContext
                 ) -> Tuple[QueryTower, ItemTower]:
    """The query and item towers of the named blocks.

    Args:
      block_names: entries of blocks.BLOCKS (both sides, usable on this data).
      context: the data's vocabularies and fields and the model's sizes.

    Returns:
      (query tower, item tower).

    Example:

    ```python
    query_tower, item_tower = build_towers(["history_bag", "item_id", "item_bias"], context)
    vectors, bias = item_tower(catalogue_features)           # every item
    query = query_tower({**user_features, features.ITEM_VECTORS: vectors})
    scores = query @ tf.transpose(vectors) + bias
    ```
    """
    candidate = blocks.on_side(block_names, blocks.CANDIDATE)
    vector_blocks = [name for name in candidate if not blocks.get(name).score_bias]
    if not vector_blocks:
        raise ValueError(f"the item tower needs a block that is not a score bias, got {candidate}")
    item_tower = ItemTower(
        [blocks.build(name, context) for name in vector_blocks],
        [blocks.build(name, context) for name in candidate if blocks.get(name).score_bias],
        name="item_tower")
    query_tower = QueryTower(
        [blocks.build(name, context) for name in blocks.on_side(block_names, blocks.QUERY)
         if not blocks.get(name).item_item],
        context.embedding_dim, name="query_tower")
    return query_tower, item_tower


def query_score_vector(query: tf.Tensor, history_weights: Optional[tf.Tensor] = None
                       ) -> tf.Tensor:
    """`[query, 1]` (then the item-item block's history weights, when the model has
    one): its dot product with `item_score_vectors` is the model's score."""
    parts = [query, tf.ones_like(query[:, :1])]
    return tf.concat(parts + ([history_weights] if history_weights is not None else []), axis=1)


def item_score_vectors(vectors: tf.Tensor, bias: tf.Tensor,
                       item_item_columns: Optional[tf.Tensor] = None) -> tf.Tensor:
    """`[item vector, bias]` (then the item-item block's weight column), the other
    side of `query_score_vector`."""
    parts = [vectors, bias[:, tf.newaxis]]
    return tf.concat(parts + ([item_item_columns] if item_item_columns is not None else []),
                     axis=1)
