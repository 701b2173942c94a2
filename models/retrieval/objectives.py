"""What the retrieval model learns from a user's history: what the query sees, what it predicts.

A training example is a user (the users split): their whole training history,
most recent first, as a SparseTensor of item vocabulary indices. Each step
splits every history anew into the `inputs` the query tower reads and the
`targets` the model must rank first among the whole catalogue:

- "denoise" (random splits): each item is dropped from the inputs with
  probability `mask_rate` and the whole history is the target, as in Mult-DAE
  (Liang et al., WWW 2018): the kept items are reconstructed, the dropped ones
  predicted. The held-out part of a random split is a random part of a
  history, so the model learns to fill one in.
- "complete": as "denoise", but only the dropped items are targets (and the
  kept ones are left out of the softmax): a target is never an input. Slower
  to learn; on MovieLens 100K it ends below "denoise".
- "future" (temporal splits): the most recent share f ~ U(future_min,
  future_max) of the history are the targets; the older items are the inputs.
  The held-out part of a temporal split is what comes next.
- "auto": "future" when the example generator says order matters (the split
  is temporal, models/split_info.py), else "denoise".

Eval items never reach a history (the example generator builds histories
from training items only), so no objective sees them.

`carve` splits off a validation part of each history in the same spirit,
deterministically per user, for model selection.
"""
from typing import Tuple

import tensorflow as tf

from models.id_lists import ranks, row_counts

DENOISE = "denoise"
COMPLETE = "complete"
FUTURE = "future"
AUTO = "auto"
OBJECTIVES = (AUTO, DENOISE, COMPLETE, FUTURE)


def resolve(objective: str, order_matters: bool) -> str:
    if objective not in OBJECTIVES:
        raise ValueError(f"retrieval objective must be one of {OBJECTIVES}, got {objective!r}")
    if objective == AUTO:
        return FUTURE if order_matters else DENOISE
    return objective


def _split(history: tf.SparseTensor, is_target: tf.Tensor
           ) -> Tuple[tf.SparseTensor, tf.SparseTensor]:
    return tf.sparse.retain(history, ~is_target), tf.sparse.retain(history, is_target)


def _most_recent(history: tf.SparseTensor, share: tf.Tensor) -> tf.Tensor:
    """Whether each id is among the most recent ceil(share * n) of its row (share per row)."""
    counts = tf.cast(row_counts(history), tf.float32)
    cut = tf.math.ceil(share * counts)
    return tf.cast(ranks(history), tf.float32) < tf.gather(cut, history.indices[:, 0])


def split_history(history: tf.SparseTensor, objective: str, mask_rate: float,
                  future_min: float, future_max: float, seed=None
                  ) -> Tuple[tf.SparseTensor, tf.SparseTensor]:
    """(inputs, targets) of one training step, both subsets of `history`'s ids.

    Args:
      history: `[users, n]` item indices, most recent first.
      objective: DENOISE, COMPLETE or FUTURE (resolved).
      mask_rate: DENOISE, COMPLETE: the probability that an item is dropped from the inputs.
      future_min, future_max: FUTURE: the range of the share of the history hidden.
      seed: optional op seed (tests).
    """
    if objective in (DENOISE, COMPLETE):
        dropped = tf.random.uniform(tf.shape(history.values), seed=seed) < mask_rate
        if objective == DENOISE:
            return tf.sparse.retain(history, ~dropped), history
        is_target = dropped
    elif objective == FUTURE:
        share = tf.random.uniform(tf.shape(row_counts(history)), future_min, future_max,
                                  seed=seed)
        is_target = _most_recent(history, share)
    else:
        raise ValueError(f"unknown objective {objective!r}")
    return _split(history, is_target)


def carve(history: tf.SparseTensor, user_keys: tf.Tensor, fraction: float,
          order_matters: bool, seed: int) -> Tuple[tf.SparseTensor, tf.SparseTensor]:
    """(kept, validation) parts of each history: floor(fraction * n) items per user
    (the most recent ones when order matters, else a random choice that depends
    only on the user and the seed), never the whole history.

    Args:
      history: `[users, n]` item indices, most recent first.
      user_keys: `[users]` int64, a stable key of each user (e.g. a hash of the id).
      fraction: share of each history held out.
      order_matters: hold out the most recent items instead of random ones.
      seed: the carve's seed.
    """
    counts = tf.cast(row_counts(history), tf.float32)
    num_held = tf.minimum(tf.floor(fraction * counts + 1e-9), tf.maximum(counts - 1.0, 0.0))
    rows = history.indices[:, 0]
    if order_matters:
        order_key = tf.cast(ranks(history), tf.float32)
    else:
        # A draw per (user, position) that depends on nothing else: the same user
        # gets the same carve whatever batch or order it comes in.
        draws = hash_uniform(tf.gather(user_keys, rows), history.indices[:, 1], seed)
        order_key = _rank_within_rows(draws, rows, tf.shape(counts)[0])
    return _split(history, order_key < tf.gather(num_held, rows))


def hash_uniform(a: tf.Tensor, b: tf.Tensor, seed: int) -> tf.Tensor:
    """A uniform [0, 1) float64 that is a fixed function of (a, b, seed) (splitmix64 finaliser)."""
    def constant(value):
        return tf.constant(value, tf.uint64)

    x = (tf.cast(a, tf.uint64) * constant(0x9E3779B97F4A7C15)
         + tf.cast(b, tf.uint64) * constant(0xBF58476D1CE4E5B9) + constant(seed))
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, constant(31)))
    x = x * constant(0x94D049BB133111EB)
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, constant(29)))
    return tf.cast(tf.bitwise.right_shift(x, constant(11)), tf.float64) / 2.0 ** 53


def _rank_within_rows(values: tf.Tensor, rows: tf.Tensor, num_rows) -> tf.Tensor:
    """The rank (0-based, ascending) of each value among the values of its row."""
    order = tf.cast(tf.argsort(tf.cast(rows, tf.float64) * 4.0 + values), tf.int64)
    sorted_rows = tf.gather(rows, order)
    counts = tf.math.bincount(tf.cast(rows, tf.int32), minlength=num_rows, maxlength=num_rows)
    starts = tf.cumsum(tf.cast(counts, tf.int64), exclusive=True)
    rank_sorted = tf.range(tf.shape(order, out_type=tf.int64)[0]) - tf.gather(starts, sorted_rows)
    return tf.cast(tf.scatter_nd(order[:, None], rank_sorted, tf.shape(order, out_type=tf.int64)),
                   tf.float32)
