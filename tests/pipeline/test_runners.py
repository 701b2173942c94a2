"""The pipeline compiles for Kubeflow/Vertex, and the TFX CLI accepts the local runner file.

Neither builds a wheel of our code: Transform and the Trainers run it by module path.
"""
import json
import os
import subprocess
import sys

import pytest

from pipeline import config as config_lib, kubeflow_v2_runner

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_kubeflow_v2_json_has_every_component(tmp_path):
    config = config_lib.load_config(overrides={"output_dir": str(tmp_path / "out")})
    path = kubeflow_v2_runner.compile_pipeline(config, "tfx-unirec:test", str(tmp_path / "p.json"))
    with open(path) as f:
        spec = json.load(f)["pipelineSpec"]
    tasks = set(spec["root"]["dag"]["tasks"])
    assert {"UnirecExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator", "AnomaliesGate",
            "Transform", "Trainer", "RetrievalEvaluator", "ServingPusher"} <= tasks
    images = {e["container"]["image"] for e in spec["deploymentSpec"]["executors"].values()}
    assert images == {"tfx-unirec:test"}
    trainer = spec["root"]["dag"]["tasks"]["Trainer"]["inputs"]["parameters"]
    assert (trainer["run_fn"]["runtimeValue"]["constantValue"]["stringValue"]
            == "models.retrieval.trainer_module.run_fn")
    assert "module_path" not in trainer and "module_file" not in trainer
    assert not os.path.exists(os.path.join(config.pipeline_root, "_wheels"))


def test_kubeflow_rejects_names_kfp_refuses(tmp_path):
    config = config_lib.load_config(overrides={"pipeline_name": "My_Pipeline"})
    with pytest.raises(ValueError, match="not a valid Kubeflow name"):
        kubeflow_v2_runner.compile_pipeline(config, "img", str(tmp_path / "p.json"))


def test_tfx_cli_creates_the_local_pipeline(tmp_path):
    # As a user's shell runs it: TF_USE_LEGACY_KERAS unset (the CLI imports TensorFlow
    # before the pipeline file, so building the pipeline must not need Keras 2).
    env = {name: value for name, value in os.environ.items() if name != "TF_USE_LEGACY_KERAS"}
    env.update(LOCAL_HOME=str(tmp_path / "tfx_home"),
               UNIREC_CONFIG=os.path.join(REPO_ROOT, "pipeline", "configs", "default.yaml"))
    tfx = os.path.join(os.path.dirname(sys.executable), "tfx")
    result = subprocess.run(
        [tfx, "pipeline", "create", "--engine", "local",
         "--pipeline_path", os.path.join(REPO_ROOT, "pipeline", "local_runner.py")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert 'Pipeline "unirec" created successfully.' in result.stdout
    with open(tmp_path / "tfx_home" / "unirec" / "pipeline_args.json") as f:
        args = json.load(f)
    assert args["pipeline_root"] == str(tmp_path / "output" / "pipeline_root" / "unirec")
    assert not (tmp_path / "output" / "pipeline_root" / "unirec" / "_wheels").exists()


def test_pipeline_builds_after_tensorflow_chose_keras_3(tmp_path):
    """What the TFX CLI does (b18e857): TensorFlow and Keras 3 load before the pipeline
    file, so building the pipeline, ranking and text included, must not load model code."""
    script = (
        "import sys\n"
        "import tensorflow as tf\n"
        "assert tf.keras.__name__.startswith('keras'), tf.keras.__name__\n"
        "from pipeline import config, pipeline\n"
        "pipeline.create_pipeline(config.load_config(overrides={\n"
        "    'output_dir': sys.argv[1], 'ranking.enabled': True, 'retrieval.family': 'hybrid'}))\n"
        "loaded = [m for m in ('models.layers', 'models.towers',\n"
        "                      'models.retrieval.model', 'models.ranking.model') if m in sys.modules]\n"
        "assert not loaded, loaded\n")
    env = {name: value for name, value in os.environ.items() if name != "TF_USE_LEGACY_KERAS"}
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path / "out")], env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]


def test_ranking_branch_joins_the_pipeline_when_enabled(tmp_path):
    config = config_lib.load_config(overrides={"output_dir": str(tmp_path / "out"),
                                               "ranking.enabled": True})
    path = kubeflow_v2_runner.compile_pipeline(config, "img", str(tmp_path / "p.json"))
    with open(path) as f:
        tasks = set(json.load(f)["pipelineSpec"]["root"]["dag"]["tasks"])
    assert {"RankingTrainer", "RankingEvaluator", "RankingPusher"} <= tasks
    default = config_lib.load_config(overrides={"output_dir": str(tmp_path / "out")})
    assert not default.ranking.enabled
