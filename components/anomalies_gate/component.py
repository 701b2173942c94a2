"""AnomaliesGate: fails the run when ExampleValidator found anomalies.

The stock ExampleValidator only records anomalies; a recommender trained on
data that broke its schema should not reach serving, so this gate stops the
pipeline and names every anomaly.
"""
import os
from typing import List

import tensorflow as tf
from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx import v1 as tfx
from tfx.types import artifact_utils

_ANOMALIES_FILE = "SchemaDiff.pb"


def describe_anomalies(anomalies: tfx.types.standard_artifacts.ExampleAnomalies) -> List[str]:
    """One line per anomaly: split, feature and TFDV's description."""
    problems = []
    for split in artifact_utils.decode_split_names(anomalies.split_names):
        path = os.path.join(artifact_utils.get_split_uri([anomalies], split), _ANOMALIES_FILE)
        with tf.io.gfile.GFile(path, "rb") as f:
            found = anomalies_pb2.Anomalies.FromString(f.read())
        for feature, info in sorted(found.anomaly_info.items()):
            problems.append(f"split '{split}', feature '{feature}': {info.description}")
        if found.HasField("dataset_anomaly_info"):
            problems.append(
                f"split '{split}', dataset: {found.dataset_anomaly_info.description}")
    return problems


class DataAnomaliesError(RuntimeError):
    pass


@tfx.dsl.components.component
def AnomaliesGate(anomalies: tfx.dsl.components.InputArtifact[
        tfx.types.standard_artifacts.ExampleAnomalies]):
    problems = describe_anomalies(anomalies)
    if problems:
        raise DataAnomaliesError(
            "ExampleValidator found anomalies; fix the data or the schema:\n  "
            + "\n  ".join(problems))
