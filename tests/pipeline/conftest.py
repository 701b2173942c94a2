"""The small end-to-end pipeline runs that several modules read (their pushed models, their metadata)."""
import pytest
import yaml

from pipeline import cli, config as config_lib, run_summary

SMALL_SAMPLE = {
    "pipeline_name": "unirec-e2e",
    "dataset": {"name": "synthetic", "num_users": 300, "num_items": 400,
                "num_interactions": 15000, "seed": 3},
    "retrieval": {"epochs": 60},
}
# Every optional part at once, as small as it runs: the hybrid family (the text
# encoder; a query tower that reads the user's features), items held out of
# training, the Tuner, the ranking branch, a user sample in the evaluation. Its
# blessing thresholds never refuse, so both models are pushed: the tests need
# them, not their quality.
HYBRID_SAMPLE = {
    "pipeline_name": "unirec-e2e-hybrid",
    "dataset": {"name": "synthetic", "num_users": 120, "num_items": 150,
                "num_interactions": 4000, "seed": 5},
    "examples": {"split": {"method": "temporal", "eval_fraction": 0.2,
                           "holdout_item_fraction": 0.1}},
    "retrieval": {"family": "hybrid", "epochs": 10, "tuner_trials": 2},
    "ranking": {"enabled": True, "epochs": 5, "max_rmse": 100.0},
    "evaluation": {"min_relative_improvement": -1.0, "report_baselines": [], "max_users": 50},
}


@pytest.fixture(scope="session")
def small_sample() -> dict:
    return dict(SMALL_SAMPLE)


def _run(tmp_path_factory, sample: dict):
    workdir = tmp_path_factory.mktemp(sample["pipeline_name"])
    config_path = workdir / "config.yaml"
    config_path.write_text(yaml.safe_dump({**sample, "output_dir": str(workdir / "out")}))
    assert cli.main(["run", "--config", str(config_path)]) == 0
    config = config_lib.load_config(str(config_path))
    return config, run_summary.read(config.metadata_path).evaluation["metrics"]


@pytest.fixture(scope="session")
def _e2e_run(tmp_path_factory):
    return _run(tmp_path_factory, SMALL_SAMPLE)


@pytest.fixture(scope="session")
def hybrid_run(tmp_path_factory):
    """The config of a finished run of the hybrid family on the small sample."""
    return _run(tmp_path_factory, HYBRID_SAMPLE)[0]


@pytest.fixture(scope="session")
def finished_run(_e2e_run):
    """The config of a finished run on the small sample (later tests may run it again)."""
    return _e2e_run[0]


@pytest.fixture(scope="session")
def finished_run_metrics(_e2e_run):
    """The retrieval metrics of that run's first, uninterrupted execution."""
    return _e2e_run[1]
