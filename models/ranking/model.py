"""TFRS ranking with DCN-v2 cross layers over user and item feature blocks.

The blocks of each side (models/blocks.py: QUERY is the user, CANDIDATE the
item) and its neighbour pools (what the train split's ratings say about the
user and the item: models/ranking/neighbours.py) are concatenated into a user
vector and an item vector; the DCN scores their concatenation. Keeping the two
sides apart lets implicit feedback pair users with other items of the batch as
negatives, lets the optional retrieval task project each side into a tower, and
lets the exported model precompute every catalogue item's vector.
"""
import dataclasses
from typing import Dict, List, Optional, Sequence, Tuple

import tensorflow as tf
import tensorflow_recommenders as tfrs
import tf_keras

from models import blocks, features
from models.ranking import neighbours as neighbours_lib
from models.ranking.hparams import RankingHparams


@dataclasses.dataclass
class RatingStatistics:
    """Of the training ratings."""
    mean: float
    minimum: float
    maximum: float


class FeatureVector(tf_keras.layers.Layer):
    """One side's vector ([B, sum of dims]): the outputs of its feature blocks, then of
    its neighbour pools (models/ranking/neighbours.py).

    Pools are not table blocks (models/blocks.py): they hold the train split's
    pairs, and each names the raw id feature it reads (`reads`).
    """

    def __init__(self, blocks: List[tf_keras.layers.Layer],
                 pools: Sequence[tf_keras.layers.Layer] = (), **kwargs):
        super().__init__(**kwargs)
        self.blocks = blocks
        self.pools = list(pools)

    @property
    def block_names(self) -> List[str]:
        return [block.name for block in self.blocks]

    def raw_features(self, raw_feature_spec) -> List[str]:
        """The raw features this side reads, each once."""
        names = blocks.raw_features(self.block_names, raw_feature_spec)
        return list(dict.fromkeys([*names, *(pool.reads for pool in self.pools)]))

    def call(self, inputs: Dict[str, tf.Tensor], training: bool = False) -> tf.Tensor:
        return tf.concat([layer(inputs, training=training)
                          for layer in self.blocks + self.pools], axis=-1)


class DeepCrossNetwork(tf_keras.layers.Layer):
    """DCN-v2: cross layers, then (stacked) or beside (parallel) a deep MLP; one output."""

    def __init__(self, cross_layers: int, structure: str, projection_dim: int,
                 deep_layers: Sequence[int], dropout: float, feature_dropout: float, l2: float,
                 output_bias: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        # Dropout on the input vector is what regularises the embeddings; L2
        # penalties on them or on the kernels did not help on MovieLens 100K.
        self.feature_dropout = tf_keras.layers.Dropout(feature_dropout)
        regularizer = tf_keras.regularizers.l2(l2) if l2 > 0 else None
        self.parallel = structure == "parallel"
        self.crosses = [tfrs.layers.dcn.Cross(projection_dim=projection_dim or None,
                                              kernel_regularizer=regularizer)
                        for _ in range(cross_layers)]
        self.deep = []
        for units in deep_layers:
            self.deep.append(tf_keras.layers.Dense(units, activation="relu",
                                                   kernel_regularizer=regularizer))
            if dropout > 0:
                self.deep.append(tf_keras.layers.Dropout(dropout))
        self.output_layer = tf_keras.layers.Dense(
            1, bias_initializer=tf_keras.initializers.Constant(output_bias))

    def call(self, x0: tf.Tensor, training: bool = False) -> tf.Tensor:
        x0 = self.feature_dropout(x0, training=training)
        cross = x0
        for layer in self.crosses:
            cross = layer(x0, cross)
        deep = x0 if self.parallel else cross
        for layer in self.deep:
            deep = layer(deep, training=training)
        top = tf.concat([cross, deep], axis=-1) if self.parallel else deep
        return tf.squeeze(self.output_layer(top), axis=-1)


class PairScorer(tf_keras.layers.Layer):
    """Scores (user vector, item vector) pairs: raw outputs for the loss (a rating or a
    logit), predictions for serving (a rating within the training range, or a probability)."""

    def __init__(self, network: DeepCrossNetwork, implicit: bool,
                 rating_range: Optional[Tuple[float, float]] = None, **kwargs):
        super().__init__(**kwargs)
        self.network = network
        self.implicit = implicit
        self.rating_range = rating_range

    def call(self, users: tf.Tensor, items: tf.Tensor, training: bool = False) -> tf.Tensor:
        return self.network(tf.concat([users, items], axis=-1), training=training)

    def predictions(self, users: tf.Tensor, items: tf.Tensor) -> tf.Tensor:
        outputs = self(users, items)
        if self.implicit:
            return tf.sigmoid(outputs)
        if self.rating_range is not None:
            return tf.clip_by_value(outputs, *self.rating_range)
        return outputs


class RankingModel(tfrs.Model):
    """Learns ratings (MSE), or interactions against sampled negatives (cross-entropy),
    optionally with a weighted retrieval task on the same feature vectors."""

    def __init__(self, user_vector: FeatureVector, item_vector: FeatureVector,
                 scorer: PairScorer, negatives: int = 1, retrieval_weight: float = 0.0,
                 embedding_dim: int = 32):
        super().__init__()
        self.user_vector = user_vector
        self.item_vector = item_vector
        self.scorer = scorer
        self.negatives = negatives
        self.retrieval_weight = retrieval_weight
        if scorer.implicit:
            self.task = tfrs.tasks.Ranking(
                loss=tf_keras.losses.BinaryCrossentropy(from_logits=True),
                metrics=[tf_keras.metrics.AUC(from_logits=True, name="auc")])
        else:
            self.task = tfrs.tasks.Ranking(
                loss=tf_keras.losses.MeanSquaredError(),
                metrics=[tf_keras.metrics.RootMeanSquaredError(name="rmse"),
                         tf_keras.metrics.MeanAbsoluteError(name="mae")])
        if retrieval_weight > 0:
            self.query_projection = tf_keras.layers.Dense(embedding_dim)
            self.candidate_projection = tf_keras.layers.Dense(embedding_dim)
            # A mean over the batch (TFRS's default loss sums it).
            self.retrieval_task = tfrs.tasks.Retrieval(
                loss=tf_keras.losses.CategoricalCrossentropy(from_logits=True),
                remove_accidental_hits=True)

    def call(self, inputs: Dict[str, tf.Tensor]) -> tf.Tensor:
        """Predicted ratings, or interaction probabilities ([B])."""
        return self.scorer.predictions(self.user_vector(inputs), self.item_vector(inputs))

    def compute_loss(self, inputs: Dict[str, tf.Tensor], training: bool = False) -> tf.Tensor:
        users = self.user_vector(inputs, training=training)
        items = self.item_vector(inputs, training=training)
        if self.scorer.implicit:
            labels, outputs, weights = self._with_negatives(
                users, items, inputs[features.ITEM_ID], training)
        else:
            labels = inputs[features.RATING]
            outputs = self.scorer(users, items, training=training)
            weights = None
        loss = self.task(labels=labels, predictions=outputs, sample_weight=weights)
        if self.retrieval_weight > 0:
            loss += self.retrieval_weight * self.retrieval_task(
                self.query_projection(users), self.candidate_projection(items),
                candidate_ids=inputs[features.ITEM_ID], compute_metrics=False)
        return loss

    def _with_negatives(self, users: tf.Tensor, items: tf.Tensor, item_ids: tf.Tensor,
                        training: bool):
        """Each user with its own item (label 1) and with `negatives` shuffled items of the
        batch (label 0); a shuffled item that is the user's own gets weight 0."""
        labels = [tf.ones_like(users[:, 0])]
        outputs = [self.scorer(users, items, training=training)]
        weights = [tf.ones_like(users[:, 0])]
        for _ in range(self.negatives):
            order = tf.random.shuffle(tf.range(tf.shape(items)[0]))
            outputs.append(self.scorer(users, tf.gather(items, order), training=training))
            labels.append(tf.zeros_like(users[:, 0]))
            weights.append(tf.cast(tf.gather(item_ids, order) != item_ids, tf.float32))
        # [N, 1]: binary cross-entropy averages over the last axis.
        return tf.concat(labels, 0)[:, None], tf.concat(outputs, 0)[:, None], tf.concat(weights, 0)


def build_model(hparams: RankingHparams, block_names: Sequence[str],
                context: blocks.BlockContext,
                ratings: Optional[RatingStatistics] = None,
                train_pairs: Optional[neighbours_lib.TrainPairs] = None) -> RankingModel:
    """The ranking model over `block_names`.

    Args:
      hparams: the DCN, task and training settings.
      block_names: the blocks the data has (blocks.usable), user and item sides mixed.
      context: the data's vocabularies and fields and the embedding size.
      ratings: for the rating task: the model starts from the mean training
        rating and predicts within the training range.
      train_pairs: the train split's pairs, which the neighbour pools hold
        (required when hparams ask for a pool).

    Returns:
      The model; `model(transformed_features)` gives predicted ratings or
      interaction probabilities.
    """
    def side(names):
        return [blocks.build(n, context) for n in names]

    sizes, dim = context.vocab_sizes, context.embedding_dim
    offset = ratings.mean if (ratings and hparams.neighbour_ratings) else None
    user_pools = [neighbours_lib.Neighbours(
        features.USER_ID, features.ITEM_ID, train_pairs.by_user(sizes[features.USER_ID]),
        sizes[features.ITEM_ID], dim, offset, name="user_neighbours")
    ] if hparams.user_neighbours else []
    item_pools = [neighbours_lib.Neighbours(
        features.ITEM_ID, features.USER_ID, train_pairs.by_item(sizes[features.ITEM_ID]),
        sizes[features.USER_ID], dim, offset, name="item_neighbours")
    ] if hparams.item_neighbours else []
    network = DeepCrossNetwork(
        hparams.cross_layers, hparams.cross_structure, hparams.cross_projection_dim,
        hparams.deep_layers, hparams.dropout, hparams.feature_dropout, hparams.l2,
        output_bias=ratings.mean if ratings else 0.0, name="dcn")
    return RankingModel(
        FeatureVector(side(blocks.on_side(block_names, blocks.QUERY)), user_pools, name="user"),
        FeatureVector(side(blocks.on_side(block_names, blocks.CANDIDATE)), item_pools,
                      name="item"),
        PairScorer(network, implicit=hparams.task == "implicit",
                   rating_range=(ratings.minimum, ratings.maximum) if ratings else None,
                   name="scorer"),
        negatives=hparams.negatives, retrieval_weight=hparams.retrieval_weight,
        embedding_dim=hparams.embedding_dim)
