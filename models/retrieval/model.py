"""The retrieval model: a query tower over the user's history, an item tower, a catalogue softmax.

A training example is a user (the users split). Each step, every history is
split into what the query sees and the items it must rank first
(models/retrieval/objectives.py); the item tower gives every catalogue item's
vector and bias, the history blocks pool those same vectors into the query,
and the loss is the softmax over the whole catalogue of each user's held-out
items, the user's visible items left out of it (models/retrieval/task.py).
Catalogues larger than `full_softmax_max_items` are scored against a sample
instead: the batch's targets plus uniformly drawn items, with the sampling
probability correction. Such a step reads only the rows it needs: the item
tower runs on the sample and the visible history items alone, the id table's L2
penalty covers those rows, and `row_adam` updates only them, so that little of
a step's cost grows with the catalogue. An item-item block (layers.ItemItem)
adds its term to `scores`; it is fitted after the towers (models/retrieval/item_item.py), so
the loss never reads it.
"""
from typing import Dict, Optional, Tuple

import numpy as np
import tensorflow as tf
import tensorflow_recommenders as tfrs

from models import features, id_lists, layers
from models.retrieval import objectives
from models.retrieval.task import MIN_FLOAT, CatalogueSoftmax
from models.towers import ItemTower, QueryTower


class RetrievalModel(tfrs.Model):
    """Scores every catalogue item for a user as `query . item_vector + item_bias`
    (plus the item-item term when the model has one).

    Args:
      query_tower, item_tower: from models.towers.build_towers.
      items: the transformed features of every vocabulary item, then the OOV row
        (models.catalogue.vocabulary_items): what the item tower reads.
      objective: objectives.DENOISE, COMPLETE or FUTURE.
      mask_rate, future_min, future_max: the objective's settings.
      id_dropout: in training, the share of items whose id the item tower sees as
        the OOV id each step, so that content blocks learn to stand in for it.
      full_softmax_max_items: above this catalogue size, sample the softmax.
      sampled_negatives: how many items to draw per step when sampling.
      item_popularity: each vocabulary item's share of training interactions (the
        sampling probability of a batch's targets).
      item_item: the item-item block's layer (layers.ItemItem), or None.

    Example:

    ```python
    query_tower, item_tower = towers.build_towers(block_names, context)
    model = RetrievalModel(query_tower, item_tower, catalogue.vocabulary_items(c, tft_output),
                           objective="denoise")
    model.compile(optimizer=tf_keras.optimizers.Adam(1e-3))
    model.fit(user_batches, epochs=50)
    scores = model.scores(user_batch)  # [users, items]
    ```
    """

    def __init__(self, query_tower: QueryTower, item_tower: ItemTower,
                 items: Dict[str, object], objective: str, mask_rate: float = 0.5,
                 future_min: float = 0.05, future_max: float = 0.5, id_dropout: float = 0.0,
                 full_softmax_max_items: int = 50_000, sampled_negatives: int = 8192,
                 item_popularity: Optional[np.ndarray] = None, item_item=None):
        super().__init__()
        self.item_item = item_item
        self.query_tower = query_tower
        self.item_tower = item_tower
        self.items = items
        self.num_items = int(items[features.ITEM_ID].shape[0]) - 1  # the OOV row is last
        self.objective = objective
        self.mask_rate, self.future_min, self.future_max = mask_rate, future_min, future_max
        self.id_dropout = id_dropout
        self.sampled = self.num_items > full_softmax_max_items
        self.sampled_negatives = min(sampled_negatives, self.num_items)
        self.item_popularity = (None if item_popularity is None
                                else tf.constant(item_popularity, tf.float32))
        self.task = CatalogueSoftmax()
        if self.sampled:
            self._ragged_items = {name: tf.RaggedTensor.from_sparse(value)
                                  for name, value in items.items()
                                  if isinstance(value, tf.SparseTensor)}
            for block in item_tower.vector_blocks + item_tower.bias_blocks:
                if isinstance(block, layers.IdEmbedding):
                    block.penalize_looked_up_rows()

    def item_vectors(self, training: bool = False, rows: Optional[tf.Tensor] = None
                     ) -> Tuple[tf.Tensor, tf.Tensor]:
        """(vectors `[items + 1, dim]`, bias `[items + 1]`) of every vocabulary item, OOV
        last; with `rows` (vocabulary indices), of those items only, in that order."""
        items = self.items if rows is None else self._items_at(rows)
        if training and self.id_dropout > 0:
            ids = items[features.ITEM_ID]
            dropped = tf.random.uniform(tf.shape(ids)) < self.id_dropout
            items = {**items, features.ITEM_ID: tf.where(
                dropped, tf.constant(self.num_items, ids.dtype), ids)}
        return self.item_tower(items, training=training)

    def _items_at(self, rows: tf.Tensor) -> Dict[str, tf.Tensor]:
        """The item tower's features of the vocabulary items `rows` (sampled models only)."""
        return {name: (tf.gather(self._ragged_items[name], rows).to_sparse()
                       if name in self._ragged_items else tf.gather(value, rows))
                for name, value in self.items.items()}

    def query(self, inputs: Dict[str, tf.Tensor], item_vectors: tf.Tensor,
              training: bool = False) -> tf.Tensor:
        return self.query_tower({**inputs, features.ITEM_VECTORS: item_vectors},
                                training=training)

    def scores(self, inputs: Dict[str, tf.Tensor]) -> tf.Tensor:
        """`[users, items]`: every vocabulary item's score for each user's history."""
        vectors, bias = self.item_vectors()
        query = self.query(inputs, vectors)
        scores = tf.linalg.matmul(query, vectors[:-1], transpose_b=True) + bias[:-1]
        if self.item_item is not None:
            scores += self.item_item(inputs)[:, :-1]
        return scores

    # AutoGraph would rewrite the source of every tf_keras layer the step calls
    # (its rules skip `keras`, not `tf_keras`): 10-20 s of tracing per model
    # built, and nothing here branches on a tensor's value.
    @tf.autograph.experimental.do_not_convert
    def train_step(self, inputs):
        """tfrs.Model's step, with the regularization divided among the replicas: a
        distribution strategy sums their gradients (the task loss is already each
        replica's share of the global batch's mean)."""
        with tf.GradientTape() as tape:
            loss = self.compute_loss(inputs, training=True)
            regularization_loss = tf.nn.scale_regularization_loss(
                tf.reduce_sum([tf.reduce_sum(term) for term in self.losses]))
            total_loss = loss + regularization_loss
        gradients = tape.gradient(total_loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_variables))
        return {**{metric.name: metric.result() for metric in self.metrics}, "loss": loss,
                "regularization_loss": regularization_loss, "total_loss": total_loss}

    def compute_loss(self, inputs: Dict[str, tf.Tensor], training: bool = False) -> tf.Tensor:
        history = inputs[features.HISTORY_ITEM_IDS]
        visible, targets = objectives.split_history(
            history, self.objective, self.mask_rate, self.future_min, self.future_max)
        query_inputs = {**inputs, features.HISTORY_ITEM_IDS: visible}
        if self.objective != objectives.FUTURE:
            # Items dropped at random: give the bag the whole history's scale, as
            # inverted dropout does (a future split's visible part is a whole history).
            query_inputs[features.HISTORY_BAG_SCALE] = tf.sqrt(
                tf.cast(id_lists.row_counts(visible), tf.float32)
                / tf.maximum(tf.cast(id_lists.row_counts(history), tf.float32), 1.0)
            ) / (1.0 - self.mask_rate)
        # Visible items leave the softmax, unless the objective reconstructs them.
        excluded = (tf.sparse.retain(visible, tf.zeros_like(visible.values, tf.bool))
                    if self.objective == objectives.DENOISE else visible)
        if self.sampled:
            return self.sampled_loss(query_inputs, targets, excluded, self.draw_negatives())
        vectors, bias = self.item_vectors(training=True)
        query = self.query(query_inputs, vectors, training=True)
        # The OOV row stays among the candidates, masked out of every softmax: slicing
        # it off would copy the whole table forward and back (at ML-10M's catalogue,
        # 7% of a step).
        num_rows = self.num_items + 1
        is_oov = tf.equal(tf.range(num_rows), self.num_items)[tf.newaxis, :]
        return self.task(query, vectors, id_lists.multi_hot(targets, num_rows),
                         candidate_bias=bias,
                         score_mask=(id_lists.multi_hot(excluded, num_rows) < 0.5) & ~is_oov)

    def draw_negatives(self) -> tf.Tensor:
        """`sampled_negatives` vocabulary indices, uniformly drawn."""
        return tf.random.uniform([self.sampled_negatives], 0, self.num_items, tf.int64)

    def sampled_loss(self, query_inputs: Dict[str, tf.Tensor], targets: tf.SparseTensor,
                     excluded: tf.SparseTensor, drawn: tf.Tensor) -> tf.Tensor:
        """The softmax over the batch's targets and the `drawn` items: each candidate's
        score is corrected by log(expected share of steps it is a candidate in).

        The item tower runs on those candidates and the visible history items only
        (candidates first, so a candidate's column is its row)."""
        candidates, _ = tf.unique(tf.concat([targets.values, drawn], axis=0))
        visible = query_inputs[features.HISTORY_ITEM_IDS]
        rows, _ = tf.unique(tf.concat([candidates, visible.values], axis=0))
        vectors, bias = self.item_vectors(training=True, rows=rows)
        row_of = tf.scatter_nd(rows[:, tf.newaxis], tf.range(tf.size(rows)),
                               [self.num_items + 1])
        query = self.query({**query_inputs, features.ITEM_VECTOR_ROWS: row_of}, vectors,
                           training=True)
        num_candidates = tf.size(candidates)
        uniform_share = self.sampled_negatives / self.num_items
        probability = tf.fill(tf.shape(candidates), uniform_share)
        if self.item_popularity is not None:
            num_targets = tf.cast(tf.size(targets.values), tf.float32)
            probability += num_targets * tf.gather(self.item_popularity, candidates)

        def columns_of(ids: tf.SparseTensor) -> tf.SparseTensor:
            return tf.SparseTensor(ids.indices, tf.cast(tf.gather(row_of, ids.values), tf.int64),
                                   ids.dense_shape)

        excluded = columns_of(excluded)  # every excluded item is a visible one: it has a row
        excluded = tf.sparse.retain(excluded, excluded.values < tf.cast(num_candidates, tf.int64))
        return self.task(query, vectors[:num_candidates],
                         id_lists.multi_hot(columns_of(targets), num_candidates),
                         candidate_bias=bias[:num_candidates],
                         score_mask=id_lists.multi_hot(excluded, num_candidates) < 0.5,
                         candidate_sampling_probability=tf.minimum(probability, 1.0))


def ndcg_at_k(scores: tf.Tensor, seen: tf.SparseTensor, held_out: tf.SparseTensor,
              k: int = 10) -> tf.Tensor:
    """`[users]` NDCG@k of each user's held-out items, their seen items excluded."""
    num_items = tf.shape(scores)[1]
    return ranked_ndcg(scores, id_lists.multi_hot(seen, num_items) > 0,
                       id_lists.multi_hot(held_out, num_items), id_lists.row_counts(held_out), k)


def ranked_ndcg(scores: tf.Tensor, excluded: tf.Tensor, held_out: tf.Tensor,
                num_held: tf.Tensor, k: int = 10) -> tf.Tensor:
    """`ndcg_at_k` on dense `[users, items]` masks, computed once for several scores:
    `excluded` (bool) items leave the ranking, `held_out` (1.0) are the relevant
    ones, `num_held` of them per user."""
    scores = tf.where(excluded, MIN_FLOAT, scores)
    return top_ndcg(tf.math.top_k(scores, k=tf.minimum(k, tf.shape(scores)[1])).indices,
                    held_out, num_held)


def top_ndcg(top: tf.Tensor, held_out: tf.Tensor, num_held: tf.Tensor) -> tf.Tensor:
    """`[users]` NDCG of the ranked item indices `top` (`[users, k]`, best first)
    against the `held_out` (1.0) items, `num_held` of them per user."""
    hits = tf.gather(held_out, top, batch_dims=1)
    discounts = 1.0 / tf.math.log(tf.range(2.0, tf.cast(tf.shape(top)[1], tf.float32) + 2.0)) \
        * tf.math.log(2.0)
    dcg = tf.reduce_sum(hits * discounts, axis=1)
    num_held = tf.minimum(tf.cast(num_held, tf.int32), tf.shape(top)[1])
    ideal = tf.gather(tf.concat([[0.0], tf.cumsum(discounts)], axis=0), num_held)
    return dcg / tf.maximum(ideal, 1e-9)
