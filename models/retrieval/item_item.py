"""Fits the item-item block (layers.ItemItem) after the towers: EASE's weights, a scale picked on the carve.

EASE (Steck, WWW 2019) is a full-rank item x item model in closed form; the
towers are low-rank. Learning W jointly with the towers under the catalogue
softmax overfitted or learned nothing on the validation carves (MovieLens 100K
and the synthetic catalogue), while adding `scale * EASE` to the trained
model's scores, the scale picked on the carve, scored above both. So W is
EASE's on the histories the towers were fitted on (the carve's fit part during
selection, whole histories for the refit) and the scale is the best of
`scales` on the validation carve (0 switches the term off). The history's items
are weighted by `decay^rank` (rank 0 the most recent), the decay also chosen on
the carve: on MovieLens 100K's temporal split, EASE's NDCG@10 on the carve went
from 0.160 at decay 1 to 0.237 at 0.9, while random splits choose 1.

EASE is symmetric: it cannot tell what users take after an item from what they
took before it. Where order matters W also holds `sequence_weight` times the
forward co-occurrence F (`forward_cooccurrence`): F[i, j] counts the users who
took j within `SEQUENCE_WINDOW` items after i, the k-th next item weighing
SEQUENCE_STEP_DECAY^(k-1), each row divided by its sum plus one. On the
MovieLens 100K temporal carve (history decay 0.9) EASE alone scored NDCG@10
0.235 and EASE + F 0.254; windows of 20, 50 and all items gave 0.254, 0.255
and 0.253. The weight is chosen on the carve with the decay and scale (0 leaves
F out; a random split takes 0).
"""
import dataclasses
from typing import Dict, Sequence, Tuple

import numpy as np
import scipy.sparse as sp
import tensorflow as tf
from absl import logging

from models import blocks, features, id_lists
from models.baselines.ease import ease_weights
from models.retrieval.data import VALIDATION_ITEM_IDS
from models.retrieval.model import top_ndcg
from models.retrieval.task import MIN_FLOAT

SEQUENCE_WINDOW = 20
SEQUENCE_STEP_DECAY = 0.9
# Candidates per user and ranking when a blend is scored (blended_top_k).
BLEND_CANDIDATES = 100


def within_size(block_names: Sequence[str], vocab_size: int, max_items: int) -> list:
    """`block_names` without the item-item block when the vocabulary is larger than
    `max_items` (its matrix holds vocabulary² floats); logs it."""
    too_large = [name for name in block_names
                 if blocks.get(name).item_item and vocab_size > max_items]
    if too_large:
        logging.warning("retrieval: %d items exceed item_item_max_items %d; left out %s",
                        vocab_size, max_items, too_large)
    return [name for name in block_names if name not in too_large]


def history_lists(users_batches: tf.data.Dataset) -> Tuple[np.ndarray, np.ndarray]:
    """(user row, item index) of every history entry, each user's most recent first."""
    rows, items, offset = [], [], 0
    for batch in users_batches:
        history = batch[features.HISTORY_ITEM_IDS]
        rows.append(history.indices[:, 0].numpy() + offset)
        items.append(history.values.numpy())
        offset += int(history.dense_shape[0])
    if not rows:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(rows), np.concatenate(items).astype(np.int64)


def history_matrix(rows: np.ndarray, items: np.ndarray, vocab_size: int) -> sp.csr_matrix:
    """Users x vocabulary items, 1 where an item is in the user's history."""
    num_users = int(rows.max()) + 1 if len(rows) else 0
    matrix = sp.csr_matrix((np.ones(len(rows)), (rows, items)), shape=(num_users, vocab_size))
    matrix.data[:] = 1.0
    return matrix


def forward_cooccurrence(rows: np.ndarray, items: np.ndarray, vocab_size: int,
                         window: int = SEQUENCE_WINDOW,
                         step_decay: float = SEQUENCE_STEP_DECAY) -> np.ndarray:
    """F[i, j]: over users, the weight of j coming k <= `window` items after i
    (`step_decay`^(k-1)); each row divided by its sum plus one. `rows` and
    `items` list each user's history most recent first, as `history_lists` does."""
    cells = vocab_size * vocab_size
    counts = np.zeros(cells)
    pairs, weights = [], []
    for step in range(1, window + 1):
        # Most recent first: the entry `step` places later in the list came earlier.
        same_user = rows[step:] == rows[:-step]
        pairs.append(items[step:][same_user] * vocab_size + items[:-step][same_user])
        weights.append(np.full(len(pairs[-1]), step_decay ** (step - 1)))
        # One bincount for several steps (each is a pass over all the cells), as long
        # as the pairs held take no more memory than the cells.
        if step == window or sum(map(len, pairs)) >= cells:
            counts += np.bincount(np.concatenate(pairs), weights=np.concatenate(weights),
                                  minlength=cells)
            pairs, weights = [], []
    counts = counts.reshape(vocab_size, vocab_size)
    np.fill_diagonal(counts, 0.0)
    counts /= counts.sum(axis=1, keepdims=True) + 1.0
    return counts


@dataclasses.dataclass(frozen=True)
class Weights:
    """The item-item block's two matrices over the same histories."""
    ease: np.ndarray
    forward: np.ndarray

    def blend(self, sequence_weight: float) -> np.ndarray:
        return (self.ease + sequence_weight * self.forward).astype(np.float32)


def fit_weights(users_batches: tf.data.Dataset, vocab_size: int, l2: float) -> Weights:
    """EASE's weights and the forward co-occurrence over these histories (OOV row and
    column zero)."""
    rows, items = history_lists(users_batches)
    return Weights(ease_weights(history_matrix(rows, items, vocab_size), l2),
                   forward_cooccurrence(rows, items, vocab_size))


def blended_top_k(towers: tf.Tensor, term: tf.Tensor, scales: tf.Tensor,
                  excluded: tf.Tensor, k: int = 10, width: int = BLEND_CANDIDATES
                  ) -> tf.Tensor:
    """`[scales, users, k]`: the indices of the k best items of `towers + scale * term`
    (`[users, items]` each) for every scale (>= 0) of `scales`, the `excluded` (bool)
    items left out; what tf.math.top_k over the whole catalogue returns, ties
    included (to the lower index).

    Each user's candidates are the `width` best items of the towers and of the term.
    Any other item scores at most t + scale * g, t and g the towers' and the term's
    width-th best. Where a user's k-th best candidate scores above that (and no
    tie at t or g made more than 2 x width candidates), the candidates hold the top k;
    for the other users, the whole catalogue is ranked.
    """
    towers = tf.where(excluded, MIN_FLOAT, towers)
    term = tf.where(excluded, MIN_FLOAT, term)
    num_items = tf.shape(towers)[1]
    k = tf.minimum(k, num_items)
    width = tf.minimum(width, num_items)
    towers_floor = tf.math.top_k(towers, width).values[:, -1]
    term_floor = tf.math.top_k(term, width).values[:, -1]
    is_candidate = (towers >= towers_floor[:, None]) | (term >= term_floor[:, None])
    # The candidates first, in index order (top_k's ties), then other items, which
    # never reach the top k where the candidates hold it.
    columns = tf.math.top_k(tf.cast(is_candidate, tf.float32),
                            tf.minimum(2 * width, num_items)).indices
    all_kept = tf.reduce_sum(tf.cast(is_candidate, tf.int32), axis=1) <= tf.shape(columns)[1]
    candidate_towers = tf.gather(towers, columns, batch_dims=1)
    candidate_term = tf.gather(term, columns, batch_dims=1)
    candidate_excluded = tf.gather(excluded, columns, batch_dims=1)

    def top(scale):
        scores = tf.where(candidate_excluded, MIN_FLOAT,
                          candidate_towers + scale * candidate_term)
        values, positions = tf.math.top_k(scores, k)
        top_k = tf.gather(columns, positions, batch_dims=1)
        # The users whose candidates may miss an item of the top k: the whole catalogue.
        missed = tf.where(~(all_kept & (values[:, -1] > towers_floor + scale * term_floor)))
        missed_scores = tf.gather_nd(towers, missed) + scale * tf.gather_nd(term, missed)
        missed_top = tf.math.top_k(
            tf.where(tf.gather_nd(excluded, missed), MIN_FLOAT, missed_scores), k).indices
        return tf.tensor_scatter_nd_update(top_k, missed, missed_top)

    return tf.map_fn(top, scales, fn_output_signature=tf.int32)


def choose_blend(model, validation: tf.data.Dataset, weights: Weights,
                 sequence_weights: Sequence[float], scales: Sequence[float],
                 decays: Sequence[float]
                 ) -> Tuple[Tuple[float, float, float], Dict[Tuple[float, float, float], float]]:
    """Sets the model's item-item matrix, decay and scale to the best blend on the
    validation carve: W = EASE + sequence_weight * F, the term scaled by `scale`.

    Per batch, the towers' scores and the ranking's masks are computed once; per
    decay, the two matrices' terms; each (sequence weight, scale) is then a
    weighted sum of the three, ranked by `blended_top_k`.

    Returns:
      ((decay, sequence weight, scale), the validation NDCG@10 of each such triple).
    """
    layer = model.item_item
    layer.scale.assign(0.0)
    ease = tf.constant(weights.ease, tf.float32)
    forward = tf.constant(weights.forward, tf.float32)
    # At scale 0 every sequence weight scores the towers alone: the first stands for all.
    scales_by_weight = {float(weight): [float(scale) for scale in scales
                                        if scale != 0 or weight == sequence_weights[0]]
                        for weight in sequence_weights}
    blends = [(weight, scale) for weight, weight_scales in scales_by_weight.items()
              for scale in weight_scales]

    # autograph off: see RetrievalModel.train_step; one trace for every batch size.
    @tf.function(autograph=False, reduce_retracing=True)
    def towers_and_masks(batch):
        held = batch[VALIDATION_ITEM_IDS]
        visible = {name: value for name, value in batch.items() if name != VALIDATION_ITEM_IDS}
        towers = model.scores(visible)  # the scale is 0: the towers alone
        num_items = tf.shape(towers)[1]
        return (visible, towers,
                id_lists.multi_hot(visible[features.HISTORY_ITEM_IDS], num_items) > 0,
                id_lists.multi_hot(held, num_items), id_lists.row_counts(held))

    @tf.function(autograph=False, reduce_retracing=True)
    def ndcg_by_blend(visible, towers, excluded, held, num_held, decay):
        ease_term = layer.unscaled(visible, ease, decay)[:, :-1]  # the OOV column dropped
        forward_term = layer.unscaled(visible, forward, decay)[:, :-1]
        tops = tf.concat([
            blended_top_k(towers, ease_term + weight * forward_term,
                          tf.constant(weight_scales, tf.float32), excluded)
            for weight, weight_scales in scales_by_weight.items() if weight_scales], axis=0)
        ndcg = tf.map_fn(lambda top: top_ndcg(top, held, num_held), tops,
                         fn_output_signature=tf.float32)
        return tf.boolean_mask(ndcg, num_held > 0, axis=1)

    per_decay = {decay: [] for decay in decays}
    for batch in validation:
        parts = towers_and_masks(batch)
        for decay in decays:
            per_decay[decay].append(ndcg_by_blend(*parts, tf.constant(decay, tf.float32)).numpy())
    scores = {}
    for decay, per_batch in per_decay.items():
        values = np.concatenate(per_batch, axis=1) if per_batch else np.zeros([len(blends), 0])
        for (weight, scale), user_values in zip(blends, values):
            scores[(float(decay), weight, scale)] = (float(user_values.mean())
                                                     if user_values.size else 0.0)
        if 0.0 in scales:  # the sequence weights left out above
            towers_alone = scores[(float(decay), float(sequence_weights[0]), 0.0)]
            for weight in sequence_weights[1:]:
                scores[(float(decay), float(weight), 0.0)] = towers_alone
    # Ties go to the smaller scale, then to the smaller sequence weight, then to the
    # decay nearest 1.
    best = max(scores, key=lambda key: (scores[key], -key[2], -key[1], key[0]))
    decay, weight, scale = best
    layer.matrix.assign(weights.blend(weight))
    layer.decay.assign(decay)
    layer.scale.assign(scale)
    return best, scores
