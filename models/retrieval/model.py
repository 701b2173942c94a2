"""TFRS two-tower retrieval with in-batch softmax and log-Q correction."""
from typing import Dict

import numpy as np
import tensorflow as tf
import tensorflow_recommenders as tfrs
import tf_keras

from models import features

# Added to each batch by the input pipeline: the candidate's sampling
# probability in the training data, for sampling-bias (log-Q) correction.
SAMPLING_PROBABILITY = "candidate_sampling_probability"


def item_sampling_probabilities(transformed: tf.data.Dataset, num_items: int) -> np.ndarray:
    """How often each item id is the positive in the training data."""
    counts = np.zeros(num_items, dtype=np.float64)
    for batch in transformed:
        counts += np.bincount(batch[features.ITEM_ID].numpy(), minlength=num_items)
    return (counts / max(counts.sum(), 1.0)).astype(np.float32)


def with_sampling_probability(dataset: tf.data.Dataset, probabilities: np.ndarray):
    table = tf.constant(probabilities)
    return dataset.map(lambda batch: {
        **batch, SAMPLING_PROBABILITY: tf.gather(table, batch[features.ITEM_ID])})


class RetrievalModel(tfrs.Model):
    """Two towers scored by their dot product; TFRS's in-batch softmax as the loss.

    Args:
      query_tower: transformed features -> `[batch, dim]` user embeddings
        (models/towers.py).
      candidate_tower: transformed features -> `[batch, dim]` item embeddings.
      temperature: divides the scores before the softmax.
      logq_correction: subtract log(sampling probability) from each candidate's
        score (batches carry SAMPLING_PROBABILITY), so popular items are not
        pushed down for being frequent in-batch negatives.

    Example:

    ```python
    model = RetrievalModel(build_tower(["user_id"], context, "query_tower"),
                           build_tower(["item_id"], context, "candidate_tower"),
                           temperature=0.1)
    model.compile(optimizer=tf_keras.optimizers.Adam(0.01))
    model.fit(with_sampling_probability(train_batches, probabilities), epochs=5)
    ```
    """

    def __init__(self, query_tower: tf_keras.Model, candidate_tower: tf_keras.Model,
                 temperature: float, logq_correction: bool = True):
        super().__init__()
        self.logq_correction = logq_correction
        self.query_tower = query_tower
        self.candidate_tower = candidate_tower
        # Other rows of the batch are the negatives; a row whose item is the
        # positive of this row is not a negative.
        self.task = tfrs.tasks.Retrieval(temperature=temperature, remove_accidental_hits=True)

    def compute_loss(self, inputs: Dict[str, tf.Tensor], training: bool = False) -> tf.Tensor:
        # The towers get no `training`, so they run in inference mode while fitting
        # too: the hybrid family's id dropout never acts. Kept as measured until the
        # retrieval rework changes the model on purpose.
        query_embeddings = self.query_tower(inputs)
        candidate_embeddings = self.candidate_tower(inputs)
        return self.task(
            query_embeddings, candidate_embeddings,
            candidate_sampling_probability=(
                inputs[SAMPLING_PROBABILITY] if self.logq_correction else None),
            candidate_ids=inputs[features.ITEM_ID],
            compute_metrics=False)
