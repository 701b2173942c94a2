"""The ranking branch: Trainer(ranking) -> stock Evaluator (TFMA) -> ServingPusher.

The Evaluator compares the new model with the latest blessed ranking model
(a Resolver) and blesses it when the gating metric on the overall slice passes
both the value and the change threshold; other slices are reported only.
Ratings are gated on RMSE. Implicit feedback has no negatives in the eval
split, so the exported model scores each eval example's item beside
`eval_negatives` random catalogue items (`sampled_scores`, labels from
`sampled_labels`) and TFMA computes AUC and log-loss over those pairs.
"""
from typing import Dict, List, Optional

import tensorflow_model_analysis as tfma
from tfx import v1 as tfx
from tfx.dsl.components.base import base_node
from tfx.types import Channel

from components.serving_pusher.component import ServingPusher
from models import features
from models.ranking.signatures import SAMPLED_LABELS, SAMPLED_SCORES
from pipeline.config import RankingSettings
from pipeline.model_trainer import create_trainer


def component_id(kind: str, task: str) -> str:
    """Ids per task, so that the baseline Resolver never pits an implicit-feedback model
    against a rating model (their evaluation signatures differ)."""
    return ("Ranking" if task == "rating" else "ImplicitRanking") + kind


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
    """Metrics overall and per slice feature; the gating metric per `_gated`."""
    if settings.task == "rating":
        model_spec = tfma.ModelSpec(
            signature_name="serving_default", label_key=features.RATING,
            prediction_key="predictions", model_type="tf_generic")
        metrics = [tfma.MetricConfig(class_name="ExampleCount"),
                   _gated("RootMeanSquaredError", settings),
                   tfma.MetricConfig(class_name="MeanAbsoluteError")]
    else:
        model_spec = tfma.ModelSpec(
            signature_name=SAMPLED_SCORES, preprocessing_function_names=[SAMPLED_LABELS],
            label_key=SAMPLED_LABELS, prediction_key="predictions", model_type="tf_generic")
        metrics = [tfma.MetricConfig(class_name="ExampleCount"),
                   _gated("AUC", settings),
                   tfma.MetricConfig(class_name="BinaryCrossentropy")]
    return tfma.EvalConfig(
        model_specs=[model_spec],
        slicing_specs=[tfma.SlicingSpec(),
                       *[tfma.SlicingSpec(feature_keys=[f]) for f in settings.slice_features]],
        metrics_specs=[tfma.MetricsSpec(metrics=metrics)])


def overall_metrics(evaluation_uri: str) -> Dict[str, float]:
    """The new model's metrics on the overall slice, from the Evaluator's ModelEvaluation
    (e.g. {"root_mean_squared_error": 0.9, "mean_absolute_error": 0.7, "example_count": ...})."""
    for slice_metrics in tfma.load_metrics(evaluation_uri):
        if not slice_metrics.slice_key.single_slice_keys:
            # Without a baseline the model is unnamed; with one it is "candidate".
            return {kv.key.name: kv.value.double_value.value
                    for kv in slice_metrics.metric_keys_and_values
                    if kv.key.model_name in ("", "candidate") and not kv.key.is_diff}
    return {}


def create_ranking_components(settings: RankingSettings, examples: Channel,
                              transform_graph: Channel, schema: Channel, serving_root: str,
                              text_encoder_model: Optional[Channel] = None
                              ) -> List[base_node.BaseNode]:
    """[Trainer, Resolver, Evaluator, ServingPusher] of the ranking model.

    `text_encoder_model` is needed when the ranking blocks read text.
    """
    if settings.uses_text and text_encoder_model is None:
        raise ValueError(f"ranking blocks {settings.blocks} need the text encoder's model")
    trainer = create_trainer(
        "ranking", settings.to_dict(), examples, transform_graph, schema,
        text_encoder_model if settings.uses_text else None,
    ).with_id(component_id("Trainer", settings.task))
    evaluator_id = component_id("Evaluator", settings.task)
    # Only this branch's models and blessings: the retrieval branch has its own.
    baseline = tfx.dsl.Resolver(
        strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
        model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model,
                              producer_component_id=trainer.id, output_key="model"),
        model_blessing=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing,
                                       producer_component_id=evaluator_id, output_key="blessing"),
    ).with_id(component_id("BaselineResolver", settings.task))
    evaluator = tfx.components.Evaluator(
        examples=examples,
        model=trainer.outputs["model"],
        baseline_model=baseline.outputs["model"],
        eval_config=eval_config(settings),
        example_splits=[features.EVAL_SPLIT],
    ).with_id(evaluator_id)
    # The stock Pusher's job plus what TF Serving needs (models.config, warmup requests).
    pusher = ServingPusher(
        model=trainer.outputs["model"], model_blessing=evaluator.outputs["blessing"],
        examples=examples, serving_root=serving_root, model_name=settings.model_name,
        warmup_signatures=["serving_default", "score"],
    ).with_id(component_id("Pusher", settings.task))
    return [trainer, baseline, evaluator, pusher]
