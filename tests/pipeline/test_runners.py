"""The pipeline compiles for Kubeflow/Vertex (checked offline against the PipelineSpec proto
and the Vertex AI SDK), `unirec run --engine` submits or says why not, and the TFX CLI
accepts the local runner file.

Neither builds a wheel of our code: Transform and the Trainers run it by module path.
"""
import json
import os
import subprocess
import sys

import pytest
from google.auth.credentials import AnonymousCredentials
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from pipeline import cli, config as config_lib, kubeflow_v2_runner, remote_submit

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VERTEX_CONFIG = os.path.join(REPO_ROOT, "pipeline", "configs", "vertex.yaml")
IMAGE = "us-docker.pkg.dev/project/repo/tfx-unirec:test"


@pytest.fixture(scope="module")
def vertex_job_file(tmp_path_factory):
    """The Vertex preset with the ranking branch and text, compiled."""
    config = config_lib.load_config(VERTEX_CONFIG, {"ranking.enabled": True,
                                                    "retrieval.family": "hybrid"})
    path = tmp_path_factory.mktemp("vertex") / "unirec.json"
    return kubeflow_v2_runner.compile_pipeline(config, IMAGE, str(path))


def test_vertex_job_parses_as_a_pipeline_spec_with_our_image_and_code(vertex_job_file):
    with open(vertex_job_file) as f:
        job = json.load(f)
    spec = json_format.ParseDict(job["pipelineSpec"], pipeline_spec_pb2.PipelineSpec(),
                                 ignore_unknown_fields=False)
    assert job["runtimeConfig"]["gcsOutputDirectory"] == "gs://BUCKET/unirec/pipeline_root/unirec"
    tasks = spec.root.dag.tasks
    assert {"UnirecExampleGen", "StatisticsGen", "UnirecSchemaGen", "ExampleValidator",
            "AnomaliesGate", "Transform", "TextEncoder", "Trainer", "RetrievalEvaluator",
            "ServingPusher", "RankingTrainer", "RankingEvaluator", "RankingPusher"} <= set(tasks)
    for name, task in tasks.items():
        executor = spec.components[task.component_ref.name].executor_label
        deployment = spec.deployment_spec.fields["executors"].struct_value.fields[executor]
        if "container" in deployment.struct_value.fields:  # the resolver is no container
            assert deployment.struct_value.fields["container"].struct_value.fields[
                "image"].string_value == IMAGE, name

    def parameter(task, name):
        return tasks[task].inputs.parameters[name].runtime_value.constant_value.string_value

    assert parameter("Transform", "preprocessing_fn") == "models.transform.preprocessing.preprocessing_fn"
    assert parameter("Trainer", "run_fn") == "models.retrieval.trainer_module.run_fn"
    assert parameter("RankingTrainer", "run_fn") == "models.ranking.trainer_module.run_fn"


def test_vertex_sdk_builds_the_job_offline(vertex_job_file):
    job = remote_submit.vertex_job(vertex_job_file, "test-project", "europe-west4",
                                   AnonymousCredentials())
    assert job.project == "test-project" and job.location == "europe-west4"
    assert job.job_id.startswith("unirec-")
    request = job.to_dict()  # what submit() sends
    assert request["displayName"] == "unirec"
    assert job.runtime_config.gcs_output_directory == "gs://BUCKET/unirec/pipeline_root/unirec"
    assert set(job.pipeline_spec["root"]["dag"]["tasks"]) >= {"Transform", "Trainer"}


def test_a_job_with_an_unknown_field_is_refused(vertex_job_file, tmp_path):
    with open(vertex_job_file) as f:
        job = json.load(f)
    job["pipelineSpec"]["root"]["dag"]["tasks"]["Trainer"]["cachingOption"] = {}
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(job))
    with pytest.raises(ValueError, match="not a valid Kubeflow PipelineJob.*cachingOption"):
        kubeflow_v2_runner.read_job(str(broken))


def test_kubeflow_spec_carries_its_pipeline_root(vertex_job_file, tmp_path):
    path = kubeflow_v2_runner.write_pipeline_spec(vertex_job_file, str(tmp_path / "spec.json"))
    with open(path) as f:
        spec = json_format.ParseDict(json.load(f), pipeline_spec_pb2.PipelineSpec())
    assert spec.default_pipeline_root == "gs://BUCKET/unirec/pipeline_root/unirec"


VERTEX_TRAINING_ARGS = {"project": "test-project", "job_spec": {"worker_pool_specs": [
    {"machine_spec": {"machine_type": "n1-standard-8"}, "replica_count": 1,
     "container_spec": {"image_uri": IMAGE}},
    {"machine_spec": {"machine_type": "n1-standard-8"}, "replica_count": 1,
     "container_spec": {"image_uri": IMAGE}}]}}


def test_vertex_training_runs_the_retrieval_trainer_as_a_custom_job(tmp_path):
    config = config_lib.load_config(VERTEX_CONFIG, {
        "trainer.strategy": "multi_worker", "trainer.vertex_training_args": VERTEX_TRAINING_ARGS,
        "trainer.vertex_region": "europe-west4"})
    job_file = kubeflow_v2_runner.compile_pipeline(config, IMAGE, str(tmp_path / "job.json"))
    spec = json_format.ParseDict(kubeflow_v2_runner.read_job(job_file)["pipelineSpec"],
                                 pipeline_spec_pb2.PipelineSpec())
    trainer = spec.root.dag.tasks["Trainer"]
    custom_config = json.loads(
        trainer.inputs.parameters["custom_config"].runtime_value.constant_value.string_value)
    assert custom_config["ai_platform_training_args"] == VERTEX_TRAINING_ARGS
    assert custom_config["ai_platform_enable_vertex"] is True
    assert custom_config["ai_platform_vertex_region"] == "europe-west4"
    assert custom_config["strategy"] == "multi_worker"
    executor = spec.deployment_spec.fields["executors"].struct_value.fields[
        spec.components[trainer.component_ref.name].executor_label]
    assert "google_cloud_ai_platform" in json.dumps(json_format.MessageToDict(executor))


@pytest.mark.parametrize("overrides, message", [
    ({"trainer.vertex_training_args": VERTEX_TRAINING_ARGS},
     "2 replicas train together only with trainer.strategy 'multi_worker'"),
    ({"trainer.vertex_training_args": {"project": "p", "job_spec": {"worker_pool_specs": [{}]}}},
     r"worker_pool_specs\[0\] has no container_spec.image_uri"),
    ({"trainer.strategy": "parameter_server"}, "trainer.strategy: expected one of"),
])
def test_trainer_settings_say_what_is_wrong(overrides, message):
    with pytest.raises(ValueError, match=message):
        config_lib.load_config(VERTEX_CONFIG, overrides)


def test_vertex_training_needs_a_bucket_output_dir(tmp_path):
    with pytest.raises(ValueError, match="output_dir must be a bucket path"):
        config_lib.load_config(overrides={
            "output_dir": str(tmp_path), "trainer.strategy": "multi_worker",
            "trainer.vertex_training_args": VERTEX_TRAINING_ARGS})


def _offline_env(tmp_path):
    """No credentials anywhere google.auth looks, and no metadata-server probe."""
    env = {name: value for name, value in os.environ.items()
           if name not in ("GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CLOUD_PROJECT",
                           "GCLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT")}
    env.update(NO_GCE_CHECK="true", GCE_METADATA_HOST="127.0.0.1:9", GCE_METADATA_IP="127.0.0.1:9",
               CLOUDSDK_CONFIG=str(tmp_path / "gcloud"), PYTHONPATH=REPO_ROOT)
    return env


def test_vertex_submission_without_credentials_fails_in_one_line(tmp_path):
    job_file = tmp_path / "job.json"
    result = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "run", "--engine", "vertex", "--config", VERTEX_CONFIG,
         "--image", IMAGE, "--job-file", str(job_file)],
        cwd=tmp_path, env=_offline_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert result.returncode == 4, result.stderr[-2000:]
    assert result.stderr.splitlines() == [
        "unirec: no Google Cloud credentials found: run `gcloud auth application-default login`, "
        "or set GOOGLE_APPLICATION_CREDENTIALS to a service-account key file"], result.stderr
    assert not job_file.exists()  # refused before compiling


def _has_kfp_sdk() -> bool:
    try:
        remote_submit.kfp_client_class()
        return True
    except remote_submit.SubmitError:
        return False


@pytest.mark.skipif(_has_kfp_sdk(), reason="the kfp SDK is installed: this checks the path without it")
def test_kubeflow_without_kfp_compiles_and_says_how_to_upload(tmp_path, capsys):
    job_file = tmp_path / "job.json"
    code = cli.main(["run", "--engine", "kubeflow", "--config", VERTEX_CONFIG, "--image", IMAGE,
                     "--job-file", str(job_file)])
    err = capsys.readouterr().err
    assert code == 4
    spec_file = tmp_path / "job_spec.json"
    assert err.splitlines() == [
        f"unirec: compiled {spec_file} but did not submit it: the kfp SDK is not installed; "
        f"upload {spec_file} in the Kubeflow Pipelines UI, or from an environment with kfp==2.5.0: "
        f"kfp --endpoint HOST run create --experiment-name unirec --package-file {spec_file}"]
    with open(spec_file) as f:
        json_format.ParseDict(json.load(f), pipeline_spec_pb2.PipelineSpec())


@pytest.mark.parametrize("flags, message", [
    (["--engine", "vertex", "--config", VERTEX_CONFIG],
     "unirec: no pipeline image: pass --image or set UNIREC_IMAGE"),
    (["--engine", "vertex", "--image", IMAGE],
     "--engine vertex needs a bucket the cluster can write"),
    (["--config", VERTEX_CONFIG], "a local run keeps ML Metadata in SQLite under output_dir"),
])
def test_run_refuses_what_its_engine_cannot_use(flags, message, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("UNIREC_IMAGE", raising=False)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["run", *flags]) == 2
    assert message in capsys.readouterr().err


def test_kubeflow_v2_json_has_every_component(tmp_path):
    config = config_lib.load_config(overrides={"output_dir": str(tmp_path / "out")})
    path = kubeflow_v2_runner.compile_pipeline(config, "tfx-unirec:test", str(tmp_path / "p.json"))
    with open(path) as f:
        spec = json.load(f)["pipelineSpec"]
    tasks = set(spec["root"]["dag"]["tasks"])
    assert {"UnirecExampleGen", "StatisticsGen", "UnirecSchemaGen", "ExampleValidator", "AnomaliesGate",
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
