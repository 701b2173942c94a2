"""The stock Trainer of one model type, running its installed trainer module by path
(or, when the config says so, the same Trainer as a Vertex AI Training job)."""
from typing import Any, Dict, Optional

from tfx import v1 as tfx
from tfx.types import Channel

from models import features, trainer_lib
from pipeline import code_fingerprint
from pipeline.config import TrainerSettings


def run_fn_path(model_type: str) -> str:
    """The `run_fn` of models/<model_type>/trainer_module.py, as TFX imports it."""
    return f"models.{model_type}.trainer_module.run_fn"


def tuner_fn_path(model_type: str) -> str:
    """The `tuner_fn` of models/<model_type>/tuner_module.py, as TFX imports it."""
    return f"models.{model_type}.tuner_module.tuner_fn"


def create_trainer(model_type: str, hparams: Dict[str, Any], examples: Channel,
                   transform_graph: Channel, schema: Channel,
                   text_encoder_model: Optional[Channel] = None,
                   hyperparameters: Optional[Channel] = None,
                   settings: Optional[TrainerSettings] = None) -> tfx.components.Trainer:
    """A Trainer fitting `model_type` ("retrieval", "ranking") on the train split.

    Args:
      model_type: the package under models/ and the key of `hparams` in custom_config.
      hparams: the model's hyperparameters (its hparams dataclass's to_dict()).
      examples, transform_graph, schema: the ExampleGen, Transform and SchemaGen outputs.
      text_encoder_model: the TextEncoder's model, the Trainer's base_model
        (transfer learning is what base_model is for); None when no block reads text.
      hyperparameters: a Tuner's best_hyperparameters, which override `hparams`.
      settings: the config's `trainer:` section (its distribution strategy, Vertex AI
        Training); None trains on one device where the pipeline runs the Trainer.
    """
    settings = settings or TrainerSettings()
    run_fn = run_fn_path(model_type)
    values = {model_type: hparams, trainer_lib.STRATEGY_KEY: settings.strategy}
    trainer_class = tfx.components.Trainer
    if settings.vertex_training_args:
        trainer_class = tfx.extensions.google_cloud_ai_platform.Trainer
        values.update(vertex_training_config(settings))
    return trainer_class(
        run_fn=run_fn, hyperparameters=hyperparameters,
        **_shared_args(examples, transform_graph, schema, text_encoder_model,
                       custom_config=_custom_config(run_fn, values)))


def vertex_training_config(settings: TrainerSettings) -> Dict[str, Any]:
    """What tfx.extensions.google_cloud_ai_platform.Trainer reads from custom_config to
    run the Trainer as a Vertex AI custom job."""
    ai_platform = tfx.extensions.google_cloud_ai_platform
    return {ai_platform.TRAINING_ARGS_KEY: settings.vertex_training_args,
            ai_platform.ENABLE_VERTEX_KEY: True,
            ai_platform.VERTEX_REGION_KEY: settings.vertex_region}


def create_tuner(model_type: str, hparams: Dict[str, Any], trials: int, examples: Channel,
                 transform_graph: Channel, schema: Channel,
                 text_encoder_model: Optional[Channel] = None) -> tfx.components.Tuner:
    """A Tuner searching `trials` hyperparameter settings of `model_type` (its
    models/<model_type>/tuner_module.py), for the Trainer's `hyperparameters`."""
    tuner_fn = tuner_fn_path(model_type)
    return tfx.components.Tuner(
        tuner_fn=tuner_fn,
        **_shared_args(examples, transform_graph, schema, text_encoder_model,
                       custom_config=_custom_config(
                           tuner_fn, {model_type: hparams, "tuner_trials": trials})))


def _shared_args(examples: Channel, transform_graph: Channel, schema: Channel,
                 text_encoder_model: Optional[Channel],
                 custom_config: Dict[str, Any]) -> Dict[str, Any]:
    """What the Trainer and the Tuner of one model type are both given."""
    return dict(examples=examples, transform_graph=transform_graph, schema=schema,
                base_model=text_encoder_model,
                train_args=tfx.proto.TrainArgs(splits=[features.TRAIN_SPLIT]),
                eval_args=tfx.proto.EvalArgs(splits=[features.EVAL_SPLIT]),
                custom_config=custom_config)


def _custom_config(module_fn: str, values: Dict[str, Any]) -> Dict[str, Any]:
    """`values` plus the fingerprint of the code `module_fn` imports, so a code change
    invalidates the cached component."""
    return {**values, code_fingerprint.CUSTOM_CONFIG_KEY: code_fingerprint.fingerprint(module_fn)}
