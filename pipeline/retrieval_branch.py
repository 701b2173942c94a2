"""The retrieval branch: Trainer(retrieval) -> RetrievalEvaluator -> ServingPusher.

The RetrievalEvaluator scores the model and baselines on the full catalogue
and blesses the model only if it beats `evaluation.baseline`; the
ServingPusher publishes a blessed model for TF Serving.
"""
from typing import List, Optional

from tfx.dsl.components.base import base_node
from tfx.types import Channel

from components.retrieval_evaluator.component import RetrievalEvaluator
from components.serving_pusher.component import ServingPusher
from pipeline.config import EvaluationSettings, RetrievalSettings
from pipeline.model_trainer import create_trainer


def create_retrieval_components(settings: RetrievalSettings, evaluation: EvaluationSettings,
                                history_length: int, examples: Channel,
                                transform_graph: Channel, schema: Channel, serving_root: str,
                                text_encoder_model: Optional[Channel] = None
                                ) -> List[base_node.BaseNode]:
    """[Trainer, RetrievalEvaluator, ServingPusher] of the retrieval model.

    `history_length` is the example generator's, so evaluation queries carry as
    much history as training examples; `text_encoder_model` is needed when the
    family reads text.
    """
    if settings.uses_text and text_encoder_model is None:
        raise ValueError(f"family {settings.family!r} needs the text encoder's model")
    trainer = create_trainer("retrieval", settings.to_dict(), examples, transform_graph, schema,
                             text_encoder_model if settings.uses_text else None)
    evaluator = RetrievalEvaluator(
        examples=examples, model=trainer.outputs["model"],
        cutoffs=evaluation.cutoffs, metric=evaluation.metric, baseline=evaluation.baseline,
        report_baselines=evaluation.report_baselines,
        min_relative_improvement=evaluation.min_relative_improvement,
        history_length=history_length)
    pusher = ServingPusher(
        model=trainer.outputs["model"], model_blessing=evaluator.outputs["blessing"],
        examples=examples, serving_root=serving_root, model_name=settings.model_name)
    return [trainer, evaluator, pusher]
