"""AnomaliesGate names every anomaly TFDV finds and lets clean data through."""
import os

import pandas as pd
import pytest
import tensorflow_data_validation as tfdv
from tfx.types import artifact_utils, standard_artifacts

from components.anomalies_gate import component


CLEAN = pd.DataFrame({"user_gender": ["M", "F"] * 10, "rating": [2.0] * 20})


def _anomalies_artifact(tmp_path, eval_frame, train_frame=CLEAN):
    """ExampleValidator's output for a train and an eval split."""
    train_stats = tfdv.generate_statistics_from_dataframe(
        pd.DataFrame({"user_gender": ["F", "M"] * 50, "rating": [1.0, 5.0] * 50}))
    schema = tfdv.infer_schema(train_stats)
    artifact = standard_artifacts.ExampleAnomalies()
    artifact.uri = str(tmp_path)
    artifact.split_names = artifact_utils.encode_split_names(["train", "eval"])
    for split, frame in (("train", train_frame), ("eval", eval_frame)):
        anomalies = tfdv.validate_statistics(tfdv.generate_statistics_from_dataframe(frame), schema)
        split_dir = artifact_utils.get_split_uri([artifact], split)
        os.makedirs(split_dir)
        with open(os.path.join(split_dir, "SchemaDiff.pb"), "wb") as f:
            f.write(anomalies.SerializeToString())
    return artifact


def test_describes_unexpected_values_by_split_and_feature(tmp_path):
    artifact = _anomalies_artifact(
        tmp_path, pd.DataFrame({"user_gender": ["F", "X"] * 10, "rating": [3.0] * 20}))
    problems = component.describe_anomalies(artifact)
    assert len(problems) == 1
    assert problems[0].startswith("split 'eval', feature 'user_gender':")


def test_every_split_is_read(tmp_path):
    bad = pd.DataFrame({"user_gender": ["F", "X"] * 10, "rating": [3.0] * 20})
    problems = component.describe_anomalies(_anomalies_artifact(tmp_path, bad, train_frame=bad))
    assert [problem.split(",")[0] for problem in problems] == ["split 'train'", "split 'eval'"]


def test_clean_data_has_no_problems(tmp_path):
    assert component.describe_anomalies(_anomalies_artifact(tmp_path, CLEAN)) == []


def test_gate_raises_with_every_anomaly(tmp_path):
    artifact = _anomalies_artifact(
        tmp_path, pd.DataFrame({"user_gender": ["Q"] * 20, "rating": ["bad"] * 20}))
    gate = component.AnomaliesGate.EXECUTOR_SPEC.executor_class
    with pytest.raises(component.DataAnomaliesError, match="user_gender") as error:
        gate().Do({"anomalies": [artifact]}, {}, {})
    assert "rating" in str(error.value)
