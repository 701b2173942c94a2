"""Fits the item-item block (layers.ItemItem) after the towers: EASE's weights, a scale picked on the carve.

EASE (Steck, WWW 2019) is a full-rank item x item model in closed form; the
towers are low-rank. Learning W jointly with the towers under the catalogue
softmax overfitted or learned nothing on the validation carves (MovieLens 100K
and the synthetic catalogue), while adding `scale * EASE` to the trained
model's scores, the scale picked on the carve, scored above both. So W is
EASE's on the histories the towers were fitted on (the carve's fit part during
selection, whole histories for the refit) and the scale is the best of
`scales` on the validation carve (0 switches the term off).
"""
from typing import Dict, Sequence, Tuple

import numpy as np
import scipy.sparse as sp
import tensorflow as tf
from absl import logging

from models import blocks, features
from models.baselines.ease import ease_weights
from models.retrieval import selection


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


def choose_scale(model, validation: tf.data.Dataset, scales: Sequence[float]
                 ) -> Tuple[float, Dict[float, float]]:
    """Sets the model's item-item scale to the best of `scales` on the validation carve.

    Returns:
      (the scale, the validation NDCG@10 of each).
    """
    scorer = selection.ndcg_scorer(model)
    scores = {}
    for scale in scales:
        model.item_item.scale.assign(scale)
        scores[scale] = selection.validation_ndcg(model, validation, scorer=scorer)
    best = max(scores, key=lambda scale: (scores[scale], -scale))
    model.item_item.scale.assign(best)
    return best, scores
