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
"""
from typing import Dict, Sequence, Tuple

import numpy as np
import scipy.sparse as sp
import tensorflow as tf
from absl import logging

from models import blocks, features, id_lists
from models.baselines.ease import ease_weights
from models.retrieval.data import VALIDATION_ITEM_IDS
from models.retrieval.model import ndcg_at_k


def within_size(block_names: Sequence[str], vocab_size: int, max_items: int) -> list:
    """`block_names` without the item-item block when the vocabulary is larger than
    `max_items` (its matrix holds vocabulary² floats); logs it."""
    too_large = [name for name in block_names
                 if blocks.get(name).item_item and vocab_size > max_items]
    if too_large:
        logging.warning("retrieval: %d items exceed item_item_max_items %d; left out %s",
                        vocab_size, max_items, too_large)
    return [name for name in block_names if name not in too_large]


def history_matrix(users_batches: tf.data.Dataset, vocab_size: int) -> sp.csr_matrix:
    """Users x vocabulary items, 1 where an item is in the user's history."""
    rows, columns, offset = [], [], 0
    for batch in users_batches:
        history = batch[features.HISTORY_ITEM_IDS]
        rows.append(history.indices[:, 0].numpy() + offset)
        columns.append(history.values.numpy())
        offset += int(history.dense_shape[0])
    rows, columns = (np.concatenate(rows), np.concatenate(columns)) if rows else ([], [])
    matrix = sp.csr_matrix((np.ones(len(rows)), (rows, columns)), shape=(offset, vocab_size))
    matrix.data[:] = 1.0
    return matrix


def fit_weights(layer, users_batches: tf.data.Dataset, l2: float) -> None:
    """Sets the layer's W to EASE's weights over these histories (OOV row and column zero)."""
    layer.matrix.assign(ease_weights(history_matrix(users_batches, layer.vocab_size), l2)
                        .astype(np.float32))


def choose_blend(model, validation: tf.data.Dataset, scales: Sequence[float],
                 decays: Sequence[float]) -> Tuple[Tuple[float, float], Dict[Tuple[float, float], float]]:
    """Sets the model's item-item decay and scale to the best pair on the validation carve.

    The towers' scores are computed once per batch and the item-item term once
    per decay; each scale is a weighted sum of the two.

    Returns:
      ((decay, scale), the validation NDCG@10 of each (decay, scale)).
    """
    layer = model.item_item
    layer.scale.assign(0.0)
    scales = [float(scale) for scale in scales]

    @tf.function(autograph=False)  # see RetrievalModel.train_step
    def ndcg_by_scale(batch):
        held = batch[VALIDATION_ITEM_IDS]
        visible = {name: value for name, value in batch.items() if name != VALIDATION_ITEM_IDS}
        towers = model.scores(visible)
        term = layer.unscaled(visible)[:, :-1]
        has_held = id_lists.row_counts(held) > 0
        return tf.stack([tf.boolean_mask(ndcg_at_k(towers + scale * term,
                                                   visible[features.HISTORY_ITEM_IDS], held), has_held)
                         for scale in scales])

    scores = {}
    for decay in decays:
        layer.decay.assign(decay)
        per_batch = [ndcg_by_scale(batch).numpy() for batch in validation]
        values = np.concatenate(per_batch, axis=1) if per_batch else np.zeros([len(scales), 0])
        for scale, user_values in zip(scales, values):
            scores[(float(decay), scale)] = float(user_values.mean()) if user_values.size else 0.0
    # Ties go to the smaller scale, then to the decay nearest 1.
    best = max(scores, key=lambda pair: (scores[pair], -pair[1], pair[0]))
    layer.decay.assign(best[0])
    layer.scale.assign(best[1])
    return best, scores
