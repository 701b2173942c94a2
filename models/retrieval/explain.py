"""Why an item is recommended: its score split into one term per history item.

The history bag (models/layers.py:HistoryBag) makes the query a sum over the
user's items, so an item's score is exactly

    score = sum_h  v_h . v_item / sqrt(n)   +   unattributed

where v are the item vectors, n the history's length (with the item-item
block, each history item h at recency rank r adds `decay^r * scale * W[h, item]`
to its term too), and
`unattributed` the rest of the score: the item's bias, the query offset, the user's own fields
and the recent-order (Transformer) block, which reads the items jointly and is
not split between them. For content and hybrid families the item vector is
itself a sum of parts (id, text, tags), so the bag's total splits exactly by
those parts too: the text and tag evidence; the item-item block's terms are
one more part, "item_item".
"""
from typing import Dict, List, Optional

import numpy as np
import tensorflow as tf

from models import features


def history_contributions(history_ids: tf.Tensor, item_vectors: tf.Tensor,
                          candidate_parts: tf.Tensor,
                          item_item_columns: Optional[tf.Tensor] = None,
                          item_item_decay: float = 1.0) -> Dict[str, tf.Tensor]:
    """The bag's share of each candidate's score, by history item and by item part.

    Args:
      history_ids: `[batch, n]` item vocabulary indices of the history, -1 where padded.
      item_vectors: `[vocabulary + 1, dim]`, what the bag pools.
      candidate_parts: `[batch, k, parts, dim]`, each candidate's vector by part
        (their sum is the candidate's vector).
      item_item_columns: `[batch, k, vocabulary + 1]`, each candidate's item-item
        weight column (`scale * W[:, item]`), or None.
      item_item_decay: the item-item block's decay: the history item at recency
        rank r (0 the most recent, padding not counted) weighs decay^r there.

    Returns:
      "by_history_item": `[batch, k, n]` (0 where padded), "by_item_part":
      `[batch, k, parts]` (then the item-item part); both sum to the history's
      share of the score.
    """
    valid = history_ids >= 0
    count = tf.reduce_sum(tf.cast(valid, tf.float32), axis=1)
    history = tf.gather(item_vectors, tf.maximum(history_ids, 0)) * tf.cast(
        valid, tf.float32)[..., tf.newaxis]
    history /= tf.sqrt(tf.maximum(count, 1.0))[:, tf.newaxis, tf.newaxis]
    candidates = tf.reduce_sum(candidate_parts, axis=2)
    by_history_item = tf.einsum("bnd,bkd->bkn", history, candidates)
    by_item_part = tf.einsum("bd,bkpd->bkp", tf.reduce_sum(history, axis=1), candidate_parts)
    if item_item_columns is not None:
        k = tf.shape(item_item_columns)[1]
        rows = tf.tile(tf.maximum(history_ids, 0)[:, tf.newaxis, :], tf.stack([1, k, 1]))
        ranks = tf.cumsum(tf.cast(valid, tf.float32), axis=1, exclusive=True)
        weights = tf.pow(tf.cast(item_item_decay, tf.float32), ranks) * tf.cast(valid, tf.float32)
        item_item = tf.gather(item_item_columns, rows, batch_dims=2) * weights[:, tf.newaxis, :]
        by_history_item += item_item
        by_item_part = tf.concat(
            [by_item_part, tf.reduce_sum(item_item, axis=2, keepdims=True)], axis=2)
    return {"by_history_item": by_history_item, "by_item_part": by_item_part}


class CatalogueParts(tf.Module):
    """Each catalogue item's vector parts and bias (and item-item weight column),
    looked up by raw item id."""

    def __init__(self, item_ids: np.ndarray, parts: np.ndarray, bias: np.ndarray,
                 part_names: List[str], item_item_columns: Optional[np.ndarray] = None,
                 item_item_decay: float = 1.0):
        super().__init__()
        self.table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(item_ids), tf.range(len(item_ids), dtype=tf.int64)), -1)
        # An extra zero row for ids outside the catalogue.
        self.parts = tf.Variable(np.concatenate([parts, np.zeros_like(parts[:1])]),
                                 trainable=False, name="catalogue_parts")
        self.bias = tf.Variable(np.concatenate([bias, [0.0]]).astype(np.float32),
                                trainable=False, name="catalogue_bias")
        self.item_item_columns = None if item_item_columns is None else tf.Variable(
            np.concatenate([item_item_columns, np.zeros_like(item_item_columns[:1])]),
            trainable=False, name="catalogue_item_item_columns")
        self.item_item_decay = tf.constant(item_item_decay, tf.float32)
        self.part_names = tf.constant(
            part_names + (["item_item"] if item_item_columns is not None else []))
        self.num_items = len(item_ids)

    def lookup(self, item_ids: tf.Tensor):
        """(parts `[batch, k, parts, dim]`, bias `[batch, k]`, known `[batch, k]`,
        item-item columns `[batch, k, vocabulary + 1]` or None)."""
        rows = self.table.lookup(item_ids)
        known = rows >= 0
        rows = tf.where(known, rows, self.num_items)
        columns = (None if self.item_item_columns is None
                   else tf.gather(self.item_item_columns, rows))
        return tf.gather(self.parts, rows), tf.gather(self.bias, rows), known, columns


def catalogue_parts(model, transformed_items: Dict[str, tf.Tensor], item_ids: np.ndarray
                    ) -> CatalogueParts:
    """The item tower's vector blocks and bias (and the item-item block's weight
    columns) over the transformed catalogue."""
    tower = model.item_tower
    parts = np.stack([block(transformed_items).numpy() for block in tower.vector_blocks], axis=1)
    _, bias = tower(transformed_items)
    columns, decay = None, 1.0
    if model.item_item is not None:
        columns = model.item_item.item_columns(transformed_items[features.ITEM_ID]).numpy()
        decay = float(model.item_item.decay.numpy())
    return CatalogueParts(item_ids, parts, bias.numpy(),
                          [block.name for block in tower.vector_blocks], columns, decay)


def explain(query: tf.Tensor, transformed: Dict[str, tf.Tensor], item_vectors: tf.Tensor,
            catalogue: CatalogueParts, item_ids: tf.Tensor, history_width,
            has_bag: bool = True) -> Dict[str, tf.Tensor]:
    """The `explain` signature's outputs for `item_ids` `[batch, k]` (catalogue ids).

    Args:
      query: `[batch, dim]`, the query tower's output for these users.
      transformed: their transformed features (the history as vocabulary indices).
      item_vectors: what the bag pools (`[vocabulary + 1, dim]`).
      catalogue: the catalogue's parts and biases.
      item_ids: the items to explain.
      history_width: the request's history width n (positions are kept).
      has_bag: whether the query tower has the history bag (else nothing is attributed).
    """
    parts, bias, known, item_item_columns = catalogue.lookup(item_ids)
    candidates = tf.reduce_sum(parts, axis=2)
    scores = tf.einsum("bd,bkd->bk", query, candidates) + bias
    history = (transformed.get(features.HISTORY_ITEM_IDS)
               if has_bag or item_item_columns is not None else None)
    if history is None:
        batch = tf.shape(query)[0]
        history_ids = -tf.ones(tf.stack([batch, history_width]), tf.int64)
    else:
        history_ids = tf.sparse.to_dense(
            tf.SparseTensor(history.indices, history.values,
                            tf.stack([history.dense_shape[0],
                                      tf.cast(history_width, tf.int64)])), default_value=-1)
    if not has_bag:  # the item-item block alone: the bag's terms are zero
        item_vectors = tf.zeros_like(item_vectors)
    shares = history_contributions(history_ids, item_vectors, parts, item_item_columns,
                                   catalogue.item_item_decay)
    if item_item_columns is not None:
        scores += tf.reduce_sum(shares["by_item_part"][..., -1:], axis=2)
    known_float = tf.cast(known, tf.float32)
    return {
        "scores": scores * known_float,
        "history_contributions": shares["by_history_item"] * known_float[..., tf.newaxis],
        "item_part_contributions": shares["by_item_part"] * known_float[..., tf.newaxis],
        "unattributed": (scores - tf.reduce_sum(shares["by_history_item"], axis=2))
        * known_float,
        # One row per request (TF Serving's row format needs a batch dimension).
        "item_parts": tf.tile(catalogue.part_names[tf.newaxis], [tf.shape(query)[0], 1]),
    }
