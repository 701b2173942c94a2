"""The retrieval loss: each user's held-out items among the whole catalogue.

TFRS's `tasks.Retrieval` scores each query against one positive (its labels
are an identity matrix over the batch, other rows' candidates and extra rows
being the negatives). A user's held-out items are many positives of one query,
so `CatalogueSoftmax` takes a labels matrix over the candidates instead: the
multinomial likelihood of Mult-DAE (Liang et al., WWW 2018),
-sum_i y_i log softmax(scores)_i per query, averaged over queries, with TFRS's
`score_mask` and sampling-probability correction.
"""
from typing import Optional

import numpy as np
import tensorflow as tf
import tensorflow_recommenders as tfrs
import tf_keras

# What a masked-out score becomes (TFRS's own choice in tasks.retrieval).
MIN_FLOAT = np.float32(np.finfo(np.float32).min / 100.0)


class CatalogueSoftmax(tf_keras.layers.Layer, tfrs.tasks.base.Task):
    """Softmax over many candidates with many positives per query.

    Example:

    ```python
    task = CatalogueSoftmax()
    # 2 users, 4 items; user 0 liked items 1 and 3, user 1 item 0; user 0 already
    # had item 2 in its query, so it is no candidate for user 0.
    loss = task(query_embeddings, item_embeddings,
                labels=[[0., 1., 0., 1.], [1., 0., 0., 0.]],
                score_mask=[[True, True, False, True], [True] * 4])
    ```
    """

    def __init__(self, name: Optional[str] = None):
        super().__init__(name=name)
        self._loss = tf_keras.losses.CategoricalCrossentropy(
            from_logits=True, reduction=tf_keras.losses.Reduction.NONE)

    def call(self, query_embeddings: tf.Tensor, candidate_embeddings: tf.Tensor,
             labels: tf.Tensor, candidate_bias: Optional[tf.Tensor] = None,
             score_mask: Optional[tf.Tensor] = None,
             candidate_sampling_probability: Optional[tf.Tensor] = None,
             compute_metrics: bool = False) -> tf.Tensor:
        """The mean over queries of their positives' negative log-likelihood (under a
        distribution strategy, this replica's share of the global batch's mean).

        Args:
          query_embeddings: `[queries, dim]`.
          candidate_embeddings: `[candidates, dim]`: the catalogue, or a sample of it.
          labels: `[queries, candidates]`, 1 for each positive (any number per row).
          candidate_bias: `[candidates]`, added to every query's score of the candidate.
          score_mask: `[queries, candidates]` bool; False leaves the candidate out of
            that query's softmax.
          candidate_sampling_probability: `[candidates]`, when the candidates are a
            sample: the expected share of batches each is in (log-Q correction).
          compute_metrics: unused (the trainer computes full-catalogue metrics itself).
        """
        scores = tf.linalg.matmul(query_embeddings, candidate_embeddings, transpose_b=True)
        if candidate_bias is not None:
            scores += candidate_bias[tf.newaxis, :]
        if candidate_sampling_probability is not None:
            scores -= tf.math.log(tf.clip_by_value(candidate_sampling_probability, 1e-12, 1.0))
        if score_mask is not None:
            scores = tf.where(score_mask, scores, MIN_FLOAT)
        positives = tf.reduce_sum(labels, axis=1)
        # softmax_cross_entropy's gradient is only right for labels that sum to
        # one: normalise them and weigh each query by its number of positives.
        per_query = self._loss(labels / tf.maximum(positives, 1.0)[:, tf.newaxis], scores)
        # Divided by the global batch: the strategy sums the replicas' gradients.
        return tf.nn.compute_average_loss(per_query, sample_weight=positives)
