"""The small end-to-end pipeline run that several modules read (its pushed model, its metadata)."""
import pytest
import yaml

from pipeline import cli, config as config_lib

SMALL_SAMPLE = {
    "pipeline_name": "unirec-e2e",
    "dataset": {"name": "synthetic", "num_users": 300, "num_items": 400,
                "num_interactions": 15000, "seed": 3},
    "retrieval": {"epochs": 8, "batch_size": 512, "embedding_dim": 32},
}


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("e2e")
    config_path = workdir / "config.yaml"
    config_path.write_text(yaml.safe_dump({**SMALL_SAMPLE, "output_dir": str(workdir / "out")}))
    assert cli.main(["run", "--config", str(config_path)]) == 0
    return config_lib.load_config(str(config_path))
