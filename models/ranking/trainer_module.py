"""The ranking model's Trainer module: `run_fn` for TFX's generic Trainer.

models/trainer_lib.py runs the steps; this module says which blocks the model
reads (`ranking.blocks`), what its loss needs, how it is built and what the
SavedModel exports.
"""
from typing import List, Sequence

import numpy as np
import tensorflow as tf
import tf_keras

from models import features, trainer_lib
from models.ranking import export
from models.ranking.averaging import AveragedAdam
from models.ranking.hparams import RankingHparams
from models.ranking.model import RankingModel, RatingStatistics, build_model
from models.ranking.neighbours import TrainPairs
from models.transform import preprocessing


def read_train_pairs(file_patterns: Sequence[str], tft_output) -> TrainPairs:
    """The train split's pairs, ids mapped as the Transform graph maps them (unknown
    values to the OOV index), with their ratings if the data has any."""
    spec = {features.USER_ID: tf.io.FixedLenFeature([1], tf.string),
            features.ITEM_ID: tf.io.FixedLenFeature([1], tf.string)}
    has_ratings = features.RATING in tft_output.raw_feature_spec()
    if has_ratings:
        spec[features.RATING] = tf.io.FixedLenFeature([1], tf.float32)
    batches = list(trainer_lib.read_raw_examples(file_patterns, spec, 1 << 16))

    def column(name):
        return np.concatenate([batch[name].numpy().ravel() for batch in batches])

    def indices(name, vocabulary_name):
        vocabulary = tft_output.vocabulary_by_name(vocabulary_name)
        index = {value: i for i, value in enumerate(vocabulary)}
        return np.array([index.get(value, len(vocabulary)) for value in column(name)], np.int64)

    return TrainPairs(
        indices(features.USER_ID, preprocessing.USER_ID_VOCAB),
        indices(features.ITEM_ID, preprocessing.ITEM_ID_VOCAB),
        column(features.RATING) if has_ratings else None)


def rating_statistics(ratings: np.ndarray) -> RatingStatistics:
    return RatingStatistics(float(ratings.mean()), float(ratings.min()), float(ratings.max()))


class Ranking(trainer_lib.ModelType):
    """The DCN-v2 ranking model over user and item blocks, for ratings or implicit feedback."""
    config_key = "ranking"
    hparams_class = RankingHparams

    def block_names(self, hparams: RankingHparams, split) -> Sequence[str]:
        return hparams.blocks

    def labels(self, hparams: RankingHparams, raw_feature_spec) -> List[str]:
        # Not labels but read all the same: the neighbour pools read the user id in
        # training, which no block may read (the item id is always read).
        ids = [features.USER_ID] if hparams.user_neighbours or hparams.item_neighbours else []
        if hparams.task != "rating":
            return ids  # Implicit feedback: the examples are the positives.
        if features.RATING not in raw_feature_spec:
            raise ValueError("ranking task 'rating' needs a rating in the data; "
                             "this dataset has none: use task 'implicit'")
        return [features.RATING, *ids]

    def build_model(self, run: trainer_lib.TrainingRun) -> RankingModel:
        hparams = run.hparams
        rating = hparams.task == "rating"
        pairs = (read_train_pairs(run.train_files, run.tft_output)
                 if rating or hparams.user_neighbours or hparams.item_neighbours else None)
        return build_model(
            hparams, run.block_names, run.block_context(id_dropout=hparams.id_dropout),
            rating_statistics(pairs.ratings) if rating else None, pairs)

    def optimizer(self, hparams: RankingHparams) -> tf_keras.optimizers.Optimizer:
        # The average of the weights over the last steps predicts better than the last
        # weights, which the small noisy batches keep moving.
        if hparams.ema_momentum > 0:
            return AveragedAdam(hparams.learning_rate, hparams.ema_momentum)
        return tf_keras.optimizers.Adam(hparams.learning_rate)

    def export(self, model: RankingModel, run: trainer_lib.TrainingRun, export_dir: str) -> None:
        hparams = run.hparams
        export.export_serving_model(
            model, run, export_dir,
            eval_negatives=hparams.eval_negatives if hparams.task == "implicit" else 0)


def run_fn(fn_args) -> None:
    """Trains the ranking model and writes its serving SavedModel (TFX generic Trainer).

    Args:
      fn_args: TFX's FnArgs. `custom_config["ranking"]` holds the RankingHparams
        fields; `base_model`, when a block reads text, is the TextEncoder's model.
    """
    trainer_lib.run(fn_args, Ranking())
