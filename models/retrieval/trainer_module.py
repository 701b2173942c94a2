"""The retrieval model's Trainer module: `run_fn` for TFX's generic Trainer.

models/trainer_lib.py runs the steps; this module says which blocks the towers
use (the family), how the model is built and what the SavedModel exports.
"""
from typing import Sequence

import tf_keras

from models import blocks, families, features, towers, trainer_lib
from models.retrieval import export
from models.retrieval import model as model_lib
from models.retrieval.hparams import RetrievalHparams

_OPTIMIZERS = {"adam": tf_keras.optimizers.Adam, "adagrad": tf_keras.optimizers.Adagrad}


class Retrieval(trainer_lib.ModelType):
    """The two-tower model of `retrieval.family`, trained with in-batch softmax."""
    config_key = "retrieval"
    hparams_class = RetrievalHparams

    def block_names(self, hparams: RetrievalHparams) -> Sequence[str]:
        return families.get(hparams.family).block_names

    def datasets(self, run, train, evaluation):
        # Log-Q correction needs each positive's sampling probability in training.
        probabilities = model_lib.item_sampling_probabilities(
            train, run.block_context().vocab_sizes[features.ITEM_ID])
        return (model_lib.with_sampling_probability(train, probabilities),
                model_lib.with_sampling_probability(evaluation, probabilities))

    def build_model(self, run: trainer_lib.TrainingRun) -> model_lib.RetrievalModel:
        hparams = run.hparams
        context = run.block_context(id_dropout=families.get(hparams.family).id_dropout)
        return model_lib.RetrievalModel(
            towers.build_tower(blocks.on_side(run.block_names, blocks.QUERY), context, "query_tower"),
            towers.build_tower(blocks.on_side(run.block_names, blocks.CANDIDATE), context,
                               "candidate_tower"),
            temperature=hparams.temperature, logq_correction=hparams.logq_correction)

    def optimizer(self, hparams: RetrievalHparams) -> tf_keras.optimizers.Optimizer:
        return _OPTIMIZERS[hparams.optimizer](hparams.learning_rate)

    def export(self, model: model_lib.RetrievalModel, run: trainer_lib.TrainingRun,
               export_dir: str) -> None:
        export.export_serving_model(model, run, export_dir)


def run_fn(fn_args) -> None:
    """Trains the retrieval model and writes its serving SavedModel (TFX generic Trainer).

    Args:
      fn_args: TFX's FnArgs. `custom_config["retrieval"]` holds the RetrievalHparams
        fields; `base_model`, when the family reads text, is the TextEncoder's model.
    """
    trainer_lib.run(fn_args, Retrieval())
