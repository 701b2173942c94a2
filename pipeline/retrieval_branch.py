"""The retrieval branch: [Tuner ->] Trainer(retrieval) -> RetrievalEvaluator -> ServingPusher.

The RetrievalEvaluator scores the model and baselines on the full catalogue
and blesses the model only if it beats `evaluation.baseline`; the
ServingPusher publishes a blessed model for TF Serving.
"""
from typing import List, Optional

from tfx.dsl.components.base import base_node
from tfx.types import Channel

from components.retrieval_evaluator.component import RetrievalEvaluator
from components.serving_pusher.component import ServingPusher
from pipeline.config import EvaluationSettings, RetrievalSettings, TrainerSettings
from pipeline.model_trainer import create_trainer, create_tuner


def create_retrieval_components(settings: RetrievalSettings, evaluation: EvaluationSettings,
                                examples: Channel, transform_graph: Channel, schema: Channel,
                                serving_root: str, text_encoder_model: Optional[Channel] = None,
                                trainer_settings: Optional[TrainerSettings] = None
                                ) -> List[base_node.BaseNode]:
    """[Tuner,] Trainer, RetrievalEvaluator, ServingPusher of the retrieval model.

    The model trains on the users split and the evaluator queries it with the
    same rows, so training, evaluation and serving see the same history.
    `text_encoder_model` is the TextEncoder's model when the family reads text
    and the data has some (the Trainer fails if its blocks need it and it is None).
    `trainer_settings` (the config's `trainer:` section) says where the Trainer trains.
    """
    text_encoder_model = text_encoder_model if settings.uses_text else None
    tuner = (create_tuner("retrieval", settings.to_dict(), settings.tuner_trials, examples,
                          transform_graph, schema, text_encoder_model)
             if settings.tuner_trials > 0 else None)
    trainer = create_trainer("retrieval", settings.to_dict(), examples, transform_graph, schema,
                             text_encoder_model,
                             tuner.outputs["best_hyperparameters"] if tuner else None,
                             trainer_settings)
    evaluator = RetrievalEvaluator(
        examples=examples, model=trainer.outputs["model"],
        cutoffs=evaluation.cutoffs, metric=evaluation.metric, baseline=evaluation.baseline,
        report_baselines=evaluation.report_baselines,
        min_relative_improvement=evaluation.min_relative_improvement,
        batch_users=evaluation.batch_users, max_users=evaluation.max_users,
        sample_seed=evaluation.sample_seed, ease_max_items=evaluation.ease_max_items)
    pusher = ServingPusher(
        model=trainer.outputs["model"], model_blessing=evaluator.outputs["blessing"],
        examples=examples, serving_root=serving_root, model_name=settings.model_name)
    return [*([tuner] if tuner else []), trainer, evaluator, pusher]
