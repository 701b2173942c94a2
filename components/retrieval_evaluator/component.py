"""RetrievalEvaluator: full-catalogue ranking metrics of a retrieval model against baselines.

Emits the standard ModelEvaluation and ModelBlessing artifacts, so the stock
Pusher pushes only a model that beats the configured baseline.
"""
import json
from typing import Sequence

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts, standard_component_specs
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from components.retrieval_evaluator import executor
from models import baselines as baselines_lib


class RetrievalEvaluatorSpec(types.ComponentSpec):
    PARAMETERS = {
        "cutoffs": ExecutionParameter(type=str),  # JSON list of k
        "metric": ExecutionParameter(type=str),   # e.g. "ndcg@10"
        "baseline": ExecutionParameter(type=str),       # the one to beat for a blessing
        "report_baselines": ExecutionParameter(type=str),  # JSON list, computed alongside
        "min_relative_improvement": ExecutionParameter(type=float),
        "batch_users": ExecutionParameter(type=int),     # users scored at a time
        "max_users": ExecutionParameter(type=int),       # above: a seeded sample; 0 = all
        "sample_seed": ExecutionParameter(type=int),
        "ease_max_items": ExecutionParameter(type=int),  # above: EASE skipped; 0 = never
    }
    INPUTS = {
        standard_component_specs.EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples),
        standard_component_specs.MODEL_KEY: ChannelParameter(type=standard_artifacts.Model),
    }
    OUTPUTS = {
        standard_component_specs.EVALUATION_KEY:
            ChannelParameter(type=standard_artifacts.ModelEvaluation),
        standard_component_specs.BLESSING_KEY:
            ChannelParameter(type=standard_artifacts.ModelBlessing),
    }


class RetrievalEvaluator(base_component.BaseComponent):
    SPEC_CLASS = RetrievalEvaluatorSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(self, examples: types.BaseChannel, model: types.BaseChannel,
                 cutoffs: Sequence[int], metric: str, baseline: str,
                 min_relative_improvement: float, batch_users: int, max_users: int,
                 sample_seed: int, ease_max_items: int, report_baselines: Sequence[str] = ()):
        if metric.split("@")[0] not in {"precision", "recall", "ndcg", "hitrate", "map"} and metric != "mrr":
            raise ValueError(f"unknown evaluation metric {metric!r}")
        for name in (baseline, *report_baselines):
            if name not in baselines_lib.BASELINES:
                raise ValueError(f"unknown baseline {name!r}; known: {sorted(baselines_lib.BASELINES)}")
        if batch_users < 1:
            raise ValueError(f"batch_users must be at least 1, got {batch_users}")
        if max_users < 0 or ease_max_items < 0:
            raise ValueError(f"max_users ({max_users}) and ease_max_items ({ease_max_items}) "
                             "must be 0 (no limit) or positive")
        super().__init__(RetrievalEvaluatorSpec(
            examples=examples, model=model, cutoffs=json.dumps(list(cutoffs)), metric=metric,
            baseline=baseline, report_baselines=json.dumps(list(report_baselines)),
            min_relative_improvement=float(min_relative_improvement),
            batch_users=int(batch_users), max_users=int(max_users), sample_seed=int(sample_seed),
            ease_max_items=int(ease_max_items),
            evaluation=types.Channel(type=standard_artifacts.ModelEvaluation),
            blessing=types.Channel(type=standard_artifacts.ModelBlessing),
        ))
