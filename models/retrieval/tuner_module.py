"""The retrieval model's Tuner module: `tuner_fn` for TFX's Tuner component.

KerasTuner's random search over the knobs that matter most (learning rate,
embedding size, L2, the objective's mask rate). A trial is the Trainer's own
model selection (models/retrieval/trainer_module.py:select_and_refit without
the refit): fit on histories without their validation carve, full-catalogue
NDCG@10 on the carve. The Trainer takes the best trial's values
(`best_hyperparameters`) over the config's.
"""
import dataclasses
from typing import Any, Dict

import keras_tuner
import tensorflow_transform as tft
from tfx import v1 as tfx

from models import features, trainer_lib
from models.retrieval import selection
from models.retrieval.hparams import REFIT_NONE, RetrievalHparams
from models.retrieval.trainer_module import Retrieval, select_and_refit


def search_space() -> keras_tuner.HyperParameters:
    space = keras_tuner.HyperParameters()
    space.Float("learning_rate", 3e-4, 3e-3, sampling="log")
    space.Choice("embedding_dim", [64, 128, 200, 400])
    space.Float("l2", 0.003, 0.03, sampling="log")
    space.Float("mask_rate", 0.2, 0.6, step=0.1)
    return space


class RetrievalTuner(keras_tuner.RandomSearch):
    """Random search whose trial is the retrieval trainer's model selection."""

    def __init__(self, run: trainer_lib.TrainingRun, **kwargs):
        super().__init__(objective=keras_tuner.Objective(selection.METRIC, "max"),
                         hyperparameters=search_space(), tune_new_entries=False, **kwargs)
        self.run = run

    def run_trial(self, trial, *args, **kwargs) -> Dict[str, float]:
        values: Dict[str, Any] = trial.hyperparameters.values
        hparams = dataclasses.replace(self.run.hparams, refit=REFIT_NONE, **values)
        _, history = select_and_refit(Retrieval(), dataclasses.replace(self.run, hparams=hparams))
        return {selection.METRIC: max(history[selection.METRIC], default=0.0)}


def tuner_fn(fn_args) -> tfx.components.TunerFnResult:
    """The tuner the TFX Tuner component runs (`custom_config["retrieval"]` holds the
    base RetrievalHparams, `custom_config["tuner_trials"]` the number of trials)."""
    base = RetrievalHparams(**fn_args.custom_config["retrieval"])
    run = trainer_lib.prepare(
        Retrieval(), base, tft.TFTransformOutput(fn_args.transform_graph_path),
        fn_args.train_files, fn_args.eval_files,
        trainer_lib.split_file_patterns(fn_args.train_files, features.CANDIDATES_SPLIT),
        fn_args.base_model)
    tuner = RetrievalTuner(run, max_trials=fn_args.custom_config["tuner_trials"],
                           seed=base.seed, directory=fn_args.working_dir,
                           project_name="retrieval", overwrite=True)
    return tfx.components.TunerFnResult(tuner=tuner, fit_kwargs={})
