"""The small end-to-end pipeline run that several modules read (its pushed model, its metadata)."""
import pytest
import yaml

from pipeline import cli, config as config_lib, run_summary

SMALL_SAMPLE = {
    "pipeline_name": "unirec-e2e",
    "dataset": {"name": "synthetic", "num_users": 300, "num_items": 400,
                "num_interactions": 15000, "seed": 3},
    "retrieval": {"epochs": 8, "batch_size": 512, "embedding_dim": 32},
}


@pytest.fixture(scope="session")
def small_sample() -> dict:
    return dict(SMALL_SAMPLE)


@pytest.fixture(scope="session")
def _e2e_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("e2e")
    config_path = workdir / "config.yaml"
    config_path.write_text(yaml.safe_dump({**SMALL_SAMPLE, "output_dir": str(workdir / "out")}))
    assert cli.main(["run", "--config", str(config_path)]) == 0
    config = config_lib.load_config(str(config_path))
    return config, run_summary.read(config.metadata_path).evaluation["metrics"]


@pytest.fixture(scope="session")
def finished_run(_e2e_run):
    """The config of a finished run on the small sample (later tests may run it again)."""
    return _e2e_run[0]


@pytest.fixture(scope="session")
def finished_run_metrics(_e2e_run):
    """The retrieval metrics of that run's first, uninterrupted execution."""
    return _e2e_run[1]
