"""Session fixtures: tiny SavedModels under model base paths, and two server processes on loopback."""
from __future__ import annotations

from pathlib import Path

import pytest

from serving_testlib import ServerProcess, export_toy_model, publish_version

MODELS_CONFIG = """
model_config_list {{
  config {{ name: "toy" base_path: "{root}/toy" model_platform: "tensorflow" }}
  config {{
    name: "versioned" base_path: "{root}/versioned" model_platform: "tensorflow"
    model_version_policy {{ specific {{ versions: 1 versions: 2 }} }}
    version_labels {{ key: "stable" value: 1 }}
    version_labels {{ key: "canary" value: 2 }}
  }}
  config {{ name: "swap" base_path: "{root}/swap" model_platform: "tensorflow" }}
}}
"""
MONITORING_CONFIG = 'prometheus_config { enable: true, path: "/monitoring/prometheus/metrics" }\n'
BATCHING_PARAMETERS = """
max_batch_size { value: 32 }
batch_timeout_micros { value: 200000 }
max_enqueued_batches { value: 100 }
num_batch_threads { value: 1 }
"""


@pytest.fixture(scope="session")
def exports(tmp_path_factory) -> dict[str, Path]:
    """SavedModels whose default signature computes x / 2 + offset, keyed by offset."""
    root = tmp_path_factory.mktemp("exports")
    return {
        "offset1": export_toy_model(root / "offset1", 1.0),
        "offset2": export_toy_model(root / "offset2", 2.0),
        "offset3": export_toy_model(root / "offset3", 3.0),
        "toy": export_toy_model(root / "toy", 2.0, warmup=True),
    }


@pytest.fixture(scope="session")
def model_root(tmp_path_factory, exports) -> Path:
    root = tmp_path_factory.mktemp("models")
    for name in ("toy", "versioned", "swap"):
        (root / name).mkdir()
    publish_version(root / "toy", 1, exports["toy"])
    for version in (1, 2, 3):
        publish_version(root / "versioned", version, exports[f"offset{version}"])
    publish_version(root / "swap", 1, exports["offset1"])
    return root


@pytest.fixture(scope="session")
def servers(tmp_path_factory, model_root) -> dict[str, ServerProcess]:
    """Both servers start together (TF import dominates); SIGTERM at the end must exit cleanly."""
    configs = tmp_path_factory.mktemp("configs")
    (configs / "models.config").write_text(MODELS_CONFIG.format(root=model_root))
    (configs / "monitoring.config").write_text(MONITORING_CONFIG)
    (configs / "batching.config").write_text(BATCHING_PARAMETERS)
    logs = tmp_path_factory.mktemp("logs")
    monitoring = f"--monitoring_config_file={configs / 'monitoring.config'}"
    started = {
        "main": ServerProcess([f"--model_config_file={configs / 'models.config'}", monitoring],
                              logs / "main.log"),
        "batching": ServerProcess(["--model_name=toy", f"--model_base_path={model_root / 'toy'}",
                                   "--enable_batching", f"--batching_parameters_file={configs / 'batching.config'}",
                                   monitoring], logs / "batching.log"),
    }
    try:
        started["main"].wait_ready("swap")
        started["batching"].wait_ready("toy")
    except Exception:
        for server in started.values():
            server.stop()
        raise
    yield started
    exit_codes = {name: server.stop() for name, server in started.items()}
    assert exit_codes == {"main": 0, "batching": 0}, {name: s.log_text()[-2000:] for name, s in started.items()}


@pytest.fixture(scope="session")
def server(servers) -> ServerProcess:
    return servers["main"]


@pytest.fixture(scope="session")
def batching_server(servers) -> ServerProcess:
    return servers["batching"]
