"""Model selection on the metric users care about: full-catalogue NDCG@10 on a validation carve.

`ValidationNDCG` scores the model every few epochs on each user's held-out
validation items (their other items excluded, as the evaluator does), keeps the
best weights and stops when the score has not improved for `patience` scores.
"""
import contextlib
from typing import Dict, List, Optional

import numpy as np
import tensorflow as tf
import tf_keras

from models import distribution, features, id_lists
from models.retrieval.averaging import WeightAverage
from models.retrieval.data import VALIDATION_ITEM_IDS
from models.retrieval.model import RetrievalModel, ndcg_at_k

METRIC = "validation_ndcg@10"


def validation_ndcg(model: RetrievalModel, validation: tf.data.Dataset, k: int = 10,
                    scorer=None) -> float:
    """Mean over users of NDCG@k of their validation items, their other items excluded.

    `scorer`, from `ndcg_scorer(model, k)`, saves tracing it again."""
    scorer = scorer or ndcg_scorer(model, k)
    values = [scorer(batch).numpy() for batch in validation]
    values = np.concatenate(values) if values else np.zeros([0])
    return float(values.mean()) if len(values) else 0.0


def ndcg_scorer(model: RetrievalModel, k: int = 10):
    """A tf.function: a validation batch -> NDCG@k of each user who has validation items."""
    @tf.function(autograph=False)  # see RetrievalModel.train_step
    def batch_ndcg(batch):
        held = batch[VALIDATION_ITEM_IDS]
        visible = {name: value for name, value in batch.items() if name != VALIDATION_ITEM_IDS}
        scores = model.scores(visible)
        ndcg = ndcg_at_k(scores, visible[features.HISTORY_ITEM_IDS], held, k)
        return tf.boolean_mask(ndcg, id_lists.row_counts(held) > 0)

    return batch_ndcg


class ValidationNDCG(tf_keras.callbacks.Callback):
    """Scores the model every `every` epochs; keeps the best weights; early stopping.

    Training may come in several `fit` calls (a race between recipes, then the
    leader's continuation): `stopped` says patience ran out; `restore_best` puts
    back the weights of `best_epoch`, the number of epochs of the best score (0
    when no epoch ran). With an `average` (models/retrieval/averaging.py), the
    averaged weights are the ones scored and kept.
    """

    def __init__(self, validation: tf.data.Dataset, every: int, patience: int,
                 average: Optional[WeightAverage] = None):
        super().__init__()
        self.validation = validation
        self.average = average
        self.every = every
        self.patience = patience
        self.scores: Dict[int, float] = {}
        self.best_epoch = 0
        self.stopped = False
        self._best_weights: List[np.ndarray] = []
        self._scorer = None

    @property
    def best_score(self) -> float:
        return self.scores.get(self.best_epoch, 0.0)

    def on_epoch_end(self, epoch: int, logs=None):
        epochs = epoch + 1
        last = epochs == self.params.get("epochs")
        if epochs % self.every and not last:
            return
        self._scorer = self._scorer or ndcg_scorer(self.model)
        with self.average.swapped() if self.average else contextlib.nullcontext():
            # Agreed between the workers of a cluster, so that all keep the same weights
            # and stop at the same epoch (one stopping alone would leave the others
            # waiting).
            score = distribution.agreed_mean(
                self.model.distribute_strategy,
                validation_ndcg(self.model, self.validation, scorer=self._scorer))
            is_best = not self._best_weights or score > self.best_score
            if is_best:
                self._best_weights = self.model.get_weights()
        self.scores[epochs] = score
        if logs is not None:
            logs[METRIC] = score
        print(f"epoch {epochs}: {METRIC} {score:.4f}", flush=True)
        if is_best:
            self.best_epoch = epochs
        elif len([e for e in self.scores if e > self.best_epoch]) >= self.patience:
            self.stopped = self.model.stop_training = True

    @property
    def last_epoch(self) -> int:
        """Epochs trained so far: every `fit` call ends with a score."""
        return max(self.scores, default=0)

    def restore_best(self, model: tf_keras.Model) -> None:
        if self._best_weights:
            model.set_weights(self._best_weights)
