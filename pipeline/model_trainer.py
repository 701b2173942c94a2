"""The stock Trainer of one model type, running its installed trainer module by path."""
from typing import Any, Dict, Optional

from tfx import v1 as tfx
from tfx.types import Channel

from models import features
from pipeline import code_fingerprint


def run_fn_path(model_type: str) -> str:
    """The `run_fn` of models/<model_type>/trainer_module.py, as TFX imports it."""
    return f"models.{model_type}.trainer_module.run_fn"


def tuner_fn_path(model_type: str) -> str:
    """The `tuner_fn` of models/<model_type>/tuner_module.py, as TFX imports it."""
    return f"models.{model_type}.tuner_module.tuner_fn"


def create_trainer(model_type: str, hparams: Dict[str, Any], examples: Channel,
                   transform_graph: Channel, schema: Channel,
                   text_encoder_model: Optional[Channel] = None,
                   hyperparameters: Optional[Channel] = None) -> tfx.components.Trainer:
    """A Trainer fitting `model_type` ("retrieval", "ranking") on the train split.

    Args:
      model_type: the package under models/ and the key of `hparams` in custom_config.
      hparams: the model's hyperparameters (its hparams dataclass's to_dict()).
      examples, transform_graph, schema: the ExampleGen, Transform and SchemaGen outputs.
      text_encoder_model: the TextEncoder's model, the Trainer's base_model
        (transfer learning is what base_model is for); None when no block reads text.
      hyperparameters: a Tuner's best_hyperparameters, which override `hparams`.
    """
    run_fn = run_fn_path(model_type)
    return tfx.components.Trainer(
        run_fn=run_fn, hyperparameters=hyperparameters,
        **_shared_args(examples, transform_graph, schema, text_encoder_model,
                       custom_config=_custom_config(run_fn, {model_type: hparams})))


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
