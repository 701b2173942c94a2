"""What a finished run produced, read back from ML Metadata."""
import dataclasses
import json
import os
from typing import Dict, Optional

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

from components.retrieval_evaluator.executor import EVALUATION_FILE


@dataclasses.dataclass
class RunSummary:
    pushed_model_dir: Optional[str]   # None when the model was not blessed
    evaluation: Optional[Dict]        # the RetrievalEvaluator report
    component_seconds: Dict[str, float] = dataclasses.field(default_factory=dict)


def _latest(store, type_name: str):
    artifacts = store.get_artifacts_by_type(type_name)
    return max(artifacts, key=lambda a: a.id) if artifacts else None


def read(metadata_path: str) -> RunSummary:
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = metadata_path
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    store = metadata_store.MetadataStore(config)
    pushed_dir = None
    pushed = _latest(store, "PushedModel")
    if pushed is not None and pushed.custom_properties["pushed"].int_value == 1:
        pushed_dir = pushed.custom_properties["pushed_destination"].string_value
    evaluation = None
    evaluation_artifact = _latest(store, "ModelEvaluation")
    if evaluation_artifact is not None:
        path = os.path.join(evaluation_artifact.uri, EVALUATION_FILE)
        if os.path.exists(path):
            with open(path) as f:
                evaluation = json.load(f)
    return RunSummary(pushed_model_dir=pushed_dir, evaluation=evaluation)


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
    return "\n".join(lines)
