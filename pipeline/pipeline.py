"""Builds the tfx-unirec TFX pipeline from a config."""
import dataclasses
import json
import os
from typing import List

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

from tfx import v1 as tfx  # noqa: E402
from tfx.dsl.components.base import base_node  # noqa: E402

from components.anomalies_gate.component import AnomaliesGate  # noqa: E402
from components.example_gen.component import UnirecExampleGen  # noqa: E402
from components.example_gen.fingerprint import source_fingerprint  # noqa: E402
from components.retrieval_evaluator.component import RetrievalEvaluator  # noqa: E402
from components.serving_pusher.component import ServingPusher  # noqa: E402
from components.text_encoder.component import TextEncoder  # noqa: E402
from models import features, registry  # noqa: E402
from pipeline.config import PipelineConfig  # noqa: E402

_MODELS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "models")
PREPROCESSING_MODULE = os.path.join(_MODELS_DIR, "transform", "preprocessing.py")
RETRIEVAL_TRAINER_MODULE = os.path.join(_MODELS_DIR, "retrieval", "trainer_module.py")


def create_components(config: PipelineConfig) -> List[base_node.BaseNode]:
    example_gen = UnirecExampleGen(
        dataset=json.dumps(config.dataset, sort_keys=True),
        split=json.dumps(dataclasses.asdict(config.examples.split), sort_keys=True),
        history_length=config.examples.history_length,
        input_fingerprint=source_fingerprint(
            config.dataset, [f for f in (config.examples.split.train_file,
                                         config.examples.split.test_file) if f]))
    examples = example_gen.outputs["examples"]
    not_interactions = [features.CANDIDATES_SPLIT]

    statistics_gen = tfx.components.StatisticsGen(examples=examples)
    schema_gen = tfx.components.SchemaGen(
        statistics=statistics_gen.outputs["statistics"], infer_feature_shape=True,
        exclude_splits=not_interactions)
    example_validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"],
        exclude_splits=not_interactions)
    anomalies_gate = AnomaliesGate(anomalies=example_validator.outputs["anomalies"])

    # The Trainer applies the Transform graph itself, so nothing is materialised.
    transform = tfx.components.Transform(
        examples=examples, schema=schema_gen.outputs["schema"],
        module_file=PREPROCESSING_MODULE, materialize=False,
        splits_config=tfx.proto.SplitsConfig(analyze=[features.TRAIN_SPLIT]))
    transform.add_upstream_node(anomalies_gate)

    retrieval = config.retrieval
    text_components = []
    ranking = config.ranking
    if registry.get(retrieval.family).uses_text or (ranking.enabled and ranking.uses_text):
        text_encoder = TextEncoder(checkpoint=config.text_encoder.checkpoint,
                                   sequence_length=config.text_encoder.sequence_length)
        text_components.append(text_encoder)
    trainer = tfx.components.Trainer(
        module_file=RETRIEVAL_TRAINER_MODULE,
        examples=examples,
        transform_graph=transform.outputs["transform_graph"],
        schema=schema_gen.outputs["schema"],
        # The pretrained text encoder: transfer learning is what base_model is for.
        base_model=(text_components[0].outputs["model"]
                    if registry.get(retrieval.family).uses_text else None),
        train_args=tfx.proto.TrainArgs(splits=[features.TRAIN_SPLIT]),
        eval_args=tfx.proto.EvalArgs(splits=[features.EVAL_SPLIT]),
        custom_config={"retrieval": retrieval.to_dict()})
    evaluator = RetrievalEvaluator(
        examples=examples, model=trainer.outputs["model"],
        cutoffs=config.evaluation.cutoffs, metric=config.evaluation.metric,
        baseline=config.evaluation.baseline,
        report_baselines=config.evaluation.report_baselines,
        min_relative_improvement=config.evaluation.min_relative_improvement,
        history_length=config.examples.history_length)
    pusher = ServingPusher(
        model=trainer.outputs["model"], model_blessing=evaluator.outputs["blessing"],
        examples=examples, serving_root=config.serving_root, model_name=retrieval.model_name)
    ranking_components = []
    if ranking.enabled:
        # Imported here: the ranking model imports TFRS, which needs Keras 2, and
        # `tfx pipeline create` imports TensorFlow before this file can ask for it.
        from pipeline.ranking_branch import create_ranking_components

        ranking_components = create_ranking_components(
            ranking, examples, transform.outputs["transform_graph"], schema_gen.outputs["schema"],
            config.serving_root,
            text_components[0].outputs["model"] if ranking.uses_text else None)
    return [example_gen, statistics_gen, schema_gen, example_validator, anomalies_gate,
            transform, *text_components, trainer, evaluator, pusher, *ranking_components]


def create_pipeline(config: PipelineConfig,
                    metadata_connection_config=None) -> tfx.dsl.Pipeline:
    """The pipeline; local runs keep ML Metadata in SQLite under the output directory."""
    if metadata_connection_config is None:
        metadata_connection_config = tfx.orchestration.metadata.sqlite_metadata_connection_config(
            config.metadata_path)
    return tfx.dsl.Pipeline(
        pipeline_name=config.pipeline_name,
        pipeline_root=config.pipeline_root,
        components=create_components(config),
        enable_cache=config.enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=config.beam_pipeline_args)
