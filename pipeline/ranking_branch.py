"""The ranking branch: Trainer(ranking) -> stock Evaluator (TFMA) -> Pusher.

The Evaluator compares the new model with the latest blessed ranking model
(a Resolver) and blesses it when the gating metric on the overall slice passes
both the value and the change threshold; other slices are reported only.
Ratings are gated on RMSE. Implicit feedback has no negatives in the eval
split, so the exported model scores each eval example's item beside
`eval_negatives` random catalogue items (`sampled_scores`, labels from
`sampled_labels`) and TFMA computes AUC and log-loss over those pairs.
"""
import os
from typing import List, Optional

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import tensorflow_model_analysis as tfma  # noqa: E402
from tfx import v1 as tfx  # noqa: E402
from tfx.dsl.components.base import base_node  # noqa: E402
from tfx.types import Channel  # noqa: E402

from models import features  # noqa: E402
from models.ranking.export import SAMPLED_LABELS  # noqa: E402
from models.ranking.hparams import RankingSettings  # noqa: E402

RANKING_TRAINER_MODULE = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    "models", "ranking", "trainer_module.py")

TRAINER_ID = "RankingTrainer"
EVALUATOR_ID = "RankingEvaluator"


def _gated(metric: str, settings: RankingSettings) -> tfma.MetricConfig:
    """The metric, with value and change thresholds on the overall slice only."""
    if settings.task == "rating":
        value = tfma.GenericValueThreshold(upper_bound={"value": settings.max_rmse})
        change = tfma.GenericChangeThreshold(direction=tfma.MetricDirection.LOWER_IS_BETTER,
                                             absolute={"value": settings.change_tolerance})
    else:
        value = tfma.GenericValueThreshold(lower_bound={"value": settings.min_auc})
        change = tfma.GenericChangeThreshold(direction=tfma.MetricDirection.HIGHER_IS_BETTER,
                                             absolute={"value": -settings.change_tolerance})
    return tfma.MetricConfig(class_name=metric, per_slice_thresholds=[
        tfma.PerSliceMetricThreshold(
            slicing_specs=[tfma.SlicingSpec()],
            threshold=tfma.MetricThreshold(value_threshold=value, change_threshold=change))])


def eval_config(settings: RankingSettings) -> tfma.EvalConfig:
    if settings.task == "rating":
        model_spec = tfma.ModelSpec(
            signature_name="serving_default", label_key=features.RATING,
            prediction_key="predictions", model_type="tf_generic")
        metrics = [tfma.MetricConfig(class_name="ExampleCount"),
                   _gated("RootMeanSquaredError", settings),
                   tfma.MetricConfig(class_name="MeanAbsoluteError")]
    else:
        model_spec = tfma.ModelSpec(
            signature_name="sampled_scores", preprocessing_function_names=[SAMPLED_LABELS],
            label_key=SAMPLED_LABELS, prediction_key="predictions", model_type="tf_generic")
        metrics = [tfma.MetricConfig(class_name="ExampleCount"),
                   _gated("AUC", settings),
                   tfma.MetricConfig(class_name="BinaryCrossentropy")]
    return tfma.EvalConfig(
        model_specs=[model_spec],
        slicing_specs=[tfma.SlicingSpec(),
                       *[tfma.SlicingSpec(feature_keys=[f]) for f in settings.slice_features]],
        metrics_specs=[tfma.MetricsSpec(metrics=metrics)])


def create_ranking_components(settings: RankingSettings, examples: Channel,
                              transform_graph: Channel, schema: Channel, serving_root: str,
                              text_encoder_model: Optional[Channel] = None
                              ) -> List[base_node.BaseNode]:
    """[Trainer, Resolver, Evaluator, Pusher] of the ranking model.

    `text_encoder_model`: the TextEncoder's model, needed when the ranking blocks
    read text (item_text, history_text).
    """
    if settings.uses_text and text_encoder_model is None:
        raise ValueError(f"ranking blocks {settings.blocks} need the text encoder's model")
    trainer = tfx.components.Trainer(
        module_file=RANKING_TRAINER_MODULE,
        examples=examples,
        transform_graph=transform_graph,
        schema=schema,
        base_model=text_encoder_model if settings.uses_text else None,
        train_args=tfx.proto.TrainArgs(splits=[features.TRAIN_SPLIT]),
        eval_args=tfx.proto.EvalArgs(splits=[features.EVAL_SPLIT]),
        custom_config={"ranking": settings.to_dict()},
    ).with_id(TRAINER_ID)
    # Only this branch's models and blessings: the retrieval branch has its own.
    baseline = tfx.dsl.Resolver(
        strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
        model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model,
                              producer_component_id=TRAINER_ID, output_key="model"),
        model_blessing=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing,
                                       producer_component_id=EVALUATOR_ID,
                                       output_key="blessing"),
    ).with_id("RankingBaselineResolver")
    evaluator = tfx.components.Evaluator(
        examples=examples,
        model=trainer.outputs["model"],
        baseline_model=baseline.outputs["model"],
        eval_config=eval_config(settings),
        example_splits=[features.EVAL_SPLIT],
    ).with_id(EVALUATOR_ID)
    pusher = tfx.components.Pusher(
        model=trainer.outputs["model"], model_blessing=evaluator.outputs["blessing"],
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(
                base_directory=os.path.join(serving_root, settings.model_name))),
    ).with_id("RankingPusher")
    return [trainer, baseline, evaluator, pusher]
