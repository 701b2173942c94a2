"""TFRS two-tower retrieval with in-batch softmax and log-Q correction."""
import os
from typing import Dict

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import tensorflow as tf  # noqa: E402
import tensorflow_recommenders as tfrs  # noqa: E402

from models import features  # noqa: E402

# Added to each batch by the input pipeline: the candidate's sampling
# probability in the training data, for sampling-bias (log-Q) correction.
SAMPLING_PROBABILITY = "candidate_sampling_probability"


class RetrievalModel(tfrs.Model):

    def __init__(self, query_tower: tf.keras.Model, candidate_tower: tf.keras.Model,
                 temperature: float, logq_correction: bool = True):
        super().__init__()
        self.logq_correction = logq_correction
        self.query_tower = query_tower
        self.candidate_tower = candidate_tower
        # Other rows of the batch are the negatives; a row whose item is the
        # positive of this row is not a negative.
        self.task = tfrs.tasks.Retrieval(temperature=temperature, remove_accidental_hits=True)

    def compute_loss(self, inputs: Dict[str, tf.Tensor], training: bool = False) -> tf.Tensor:
        query_embeddings = self.query_tower(inputs)
        candidate_embeddings = self.candidate_tower(inputs)
        return self.task(
            query_embeddings, candidate_embeddings,
            candidate_sampling_probability=(
                inputs[SAMPLING_PROBABILITY] if self.logq_correction else None),
            candidate_ids=inputs[features.ITEM_ID],
            compute_metrics=False)
