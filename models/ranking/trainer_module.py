"""The ranking model's Trainer module: `run_fn` for TFX's generic Trainer.

models/trainer_lib.py runs the steps; this module says which blocks the model
reads (`ranking.blocks`), what its loss needs, how it is built and what the
SavedModel exports.
"""
from typing import List, Sequence

import numpy as np
import tensorflow as tf

from models import features, trainer_lib
from models.ranking import export
from models.ranking.hparams import RankingHparams
from models.ranking.model import RankingModel, RatingStatistics, build_model


def rating_statistics(file_patterns: Sequence[str]) -> RatingStatistics:
    ratings = trainer_lib.read_raw_examples(
        file_patterns, {features.RATING: tf.io.FixedLenFeature([1], tf.float32)}, 1 << 16)
    values = np.concatenate([batch[features.RATING].numpy().ravel() for batch in ratings])
    return RatingStatistics(float(values.mean()), float(values.min()), float(values.max()))


class Ranking(trainer_lib.ModelType):
    """The DCN-v2 ranking model over user and item blocks, for ratings or implicit feedback."""
    config_key = "ranking"
    hparams_class = RankingHparams

    def block_names(self, hparams: RankingHparams, split) -> Sequence[str]:
        return hparams.blocks

    def labels(self, hparams: RankingHparams, raw_feature_spec) -> List[str]:
        if hparams.task != "rating":
            return []  # Implicit feedback: the examples are the positives.
        if features.RATING not in raw_feature_spec:
            raise ValueError("ranking task 'rating' needs a rating in the data; "
                             "this dataset has none: use task 'implicit'")
        return [features.RATING]

    def build_model(self, run: trainer_lib.TrainingRun) -> RankingModel:
        hparams = run.hparams
        return build_model(
            hparams, run.block_names, run.block_context(id_dropout=hparams.id_dropout),
            rating_statistics(run.train_files) if hparams.task == "rating" else None)

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
