"""What the latest pipeline run produced, read back from ML Metadata."""
import dataclasses
import json
import os
from typing import Dict, List, Optional

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

from components.retrieval_evaluator.executor import EVALUATION_FILE, RECOMMENDATIONS_FILE
from models.trainer_lib import HISTORY_FILE

RETRIEVAL_TRAINER_ID = "Trainer"


@dataclasses.dataclass
class RunSummary:
    pushed_model_dir: Optional[str]   # None when the model was not blessed
    evaluation: Optional[Dict]        # the RetrievalEvaluator report
    recommendations_path: Optional[str] = None  # its top-k per evaluated user
    training_history: Optional[Dict] = None  # per-epoch losses and scores of the retrieval Trainer
    ranking_metrics: Dict[str, float] = dataclasses.field(default_factory=dict)  # TFMA, overall
    component_seconds: Dict[str, float] = dataclasses.field(default_factory=dict)


def _read_json(path: str) -> Optional[Dict]:
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def _latest_run_artifacts(store) -> List[metadata_store_pb2.Artifact]:
    """Artifacts of the latest pipeline run, cached ones included, newest first."""
    runs = store.get_contexts_by_type("pipeline_run")
    if not runs:
        return []
    latest = max(runs, key=lambda c: (c.create_time_since_epoch, c.id))
    return sorted(store.get_artifacts_by_context(latest.id), key=lambda a: -a.id)


def _produced_by(store, artifact: metadata_store_pb2.Artifact, component_id: str) -> bool:
    """Whether the component (its ML Metadata node context "<pipeline>.<id>") produced it."""
    return any(context.name.endswith("." + component_id)
               for context in store.get_contexts_by_artifact(artifact.id))


def _ranking_metrics(evaluation_uri: str) -> Dict[str, float]:
    """The ranking model's overall-slice TFMA metrics; {} if TFMA wrote none."""
    from pipeline.ranking_branch import overall_metrics

    try:
        return overall_metrics(evaluation_uri)
    except (OSError, ValueError):
        return {}


def read(metadata_path: str) -> RunSummary:
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = metadata_path
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    store = metadata_store.MetadataStore(config)
    type_names = {t.id: t.name for t in store.get_artifact_types()}
    summary = RunSummary(pushed_model_dir=None, evaluation=None)
    for artifact in _latest_run_artifacts(store):
        type_name = type_names[artifact.type_id]
        if type_name == "PushedModel" and artifact.custom_properties["pushed"].int_value == 1:
            destination = artifact.custom_properties["pushed_destination"].string_value
            if os.path.basename(os.path.dirname(destination)).startswith("retrieval"):
                summary.pushed_model_dir = summary.pushed_model_dir or destination
        elif type_name == "ModelEvaluation":
            report = _read_json(os.path.join(artifact.uri, EVALUATION_FILE))
            if report is None and not summary.ranking_metrics:
                summary.ranking_metrics = _ranking_metrics(artifact.uri)
            elif report is not None and summary.evaluation is None:
                summary.evaluation = report
                summary.recommendations_path = os.path.join(artifact.uri, RECOMMENDATIONS_FILE)
        elif (type_name == "ModelRun" and summary.training_history is None
              and _produced_by(store, artifact, RETRIEVAL_TRAINER_ID)):
            summary.training_history = _read_json(os.path.join(artifact.uri, HISTORY_FILE))
    return summary


def format_heading(evaluation: Dict) -> str:
    """What the metrics table was computed on: users (and their sample), items."""
    sample = evaluation.get("user_sample")
    users = (f"a seeded sample of {sample['users']} of the {sample['of']} users (seed "
             f"{sample['seed']})" if sample else f"{evaluation['num_users']} users")
    return (f"Retrieval metrics on {users}, {evaluation['num_items']} items "
            "(full catalogue, training items excluded):")


def format_metrics(evaluation: Dict, names=("recall@10", "ndcg@10", "hitrate@10", "recall@100", "mrr")) -> str:
    """A table of a few metrics: the model beside each baseline."""
    rows = evaluation["metrics"]
    has_cold = any("cold" in values for values in rows.values())
    header = f"{'':<12}" + "".join(f"{name:>12}" for name in names)
    if has_cold:
        header += f"{'cold_rec@20':>13}"
    lines = [header]
    for model_name, values in rows.items():
        line = f"{model_name:<12}" + "".join(f"{values[n]:>12.4f}" for n in names)
        if has_cold:
            cold = values.get("cold")
            line += f"{cold['cold_recall@20']:>13.4f}" if cold else f"{'cannot':>13}"
        lines.append(line)
    if has_cold:
        lines.append("cold_rec@20: Recall@20 ranking only the items held out of training; "
                     "'cannot' = the scores do not tell unseen items apart (no content features).")
    for name, reason in evaluation.get("skipped_baselines", {}).items():
        lines.append(f"{name}: {reason}")
    return "\n".join(lines)
