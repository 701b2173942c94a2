import os

import pytest

from pipeline import config as config_lib


def test_default_config_is_every_default():
    config = config_lib.load_config()
    assert config.dataset["name"] == "synthetic"
    assert os.path.isabs(config.output_dir)
    config.output_dir = "output"
    assert config == config_lib.PipelineConfig()
    assert not config.ranking.enabled


def test_a_ranking_section_turns_the_branch_on():
    assert config_lib.load_config(overrides={"ranking.epochs": 3}).ranking.enabled
    assert not config_lib.load_config(overrides={"ranking.enabled": False}).ranking.enabled


def test_model_settings_pass_only_hyperparameters_to_the_trainers():
    config = config_lib.load_config()
    assert "model_name" not in config.retrieval.to_dict()
    assert {"model_name", "enabled", "max_rmse"}.isdisjoint(config.ranking.to_dict())
    assert config.retrieval.to_dict()["family"] == "cf"


def test_unknown_keys_are_named(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("retrieval:\n  epochz: 3\n")
    with pytest.raises(ValueError, match=r"bad.yaml.retrieval: unknown key\(s\) \['epochz'\]"):
        config_lib.load_config(str(path))


def test_dataset_paths_are_relative_to_the_config_file(tmp_path):
    (tmp_path / "conf").mkdir()
    path = tmp_path / "conf" / "c.yaml"
    path.write_text("dataset:\n  name: movielens-100k\n  data_dir: ../ml-100k\n")
    config = config_lib.load_config(str(path))
    assert config.dataset["data_dir"] == str(tmp_path / "ml-100k")


def test_overrides_win_over_the_file():
    config = config_lib.load_config(overrides={"retrieval.epochs": 2, "output_dir": "elsewhere"})
    assert config.retrieval.epochs == 2
    assert config.output_dir == os.path.abspath("elsewhere")


def test_a_dataset_key_alone_changes_the_default_dataset():
    """The default YAML names no dataset: the key goes into the default one."""
    config = config_lib.load_config(overrides={"dataset.shape": "ml-1m"})
    assert config.dataset == {"name": "synthetic", "shape": "ml-1m"}


def test_unreadable_config_says_which_file(tmp_path):
    with pytest.raises(ValueError, match="cannot read config file .*missing.yaml"):
        config_lib.load_config(str(tmp_path / "missing.yaml"))


def test_dataset_flags_replace_or_redirect_the_dataset():
    assert config_lib.dataset_overrides("movielens-100k", "ml") == {
        "dataset": {"name": "movielens-100k", "data_dir": "ml"}}
    assert config_lib.dataset_overrides(None, "ml") == {"dataset.data_dir": "ml"}
    assert config_lib.dataset_overrides(None, None) == {}
