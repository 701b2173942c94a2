"""beam_pipeline_args reach every Beam component, and the DirectRunner's multi-processing
mode (pipeline/configs/multiprocess.yaml) runs them in worker processes."""
import collections
import json
import os
import re
import tempfile
import threading

from tfx import v1 as tfx
from tfx.dsl.compiler import compiler
from tfx.orchestration import pipeline as tfx_pipeline
from tfx.proto.orchestration import executable_spec_pb2, pipeline_pb2

from components.example_gen import user_shards
from pipeline import beam_args, config as config_lib, pipeline as pipeline_lib

CONFIGS = os.path.dirname(config_lib.DEFAULT_CONFIG_PATH)
MULTIPROCESS_ARGS = ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]
# The executors of our Beam components, as TFX labels their Beam jobs (an executor
# outside TFX is a "third_party_executor").
BEAM_EXECUTORS = {"UnirecExampleGen": "third_party_executor",
                  "StatisticsGen": "tfx-components-statistics_gen-executor-executor",
                  "Transform": "tfx-components-transform-executor-executor",
                  "RankingEvaluator": "tfx-components-evaluator-executor-executor"}
TINY_SAMPLE = {"pipeline_name": "unirec-multiprocess",
               "dataset": {"name": "synthetic", "num_users": 60, "num_items": 80,
                           "num_interactions": 1500, "seed": 7}}


def beam_args_by_node(config: config_lib.PipelineConfig) -> dict:
    """{node id: beam_pipeline_args} of the Beam executors in the compiled pipeline IR,
    as LocalDagRunner runs it."""
    ir = compiler.Compiler().compile(pipeline_lib.create_pipeline(config))
    deployment = pipeline_pb2.IntermediateDeploymentConfig()
    ir.deployment_config.Unpack(deployment)
    args = {}
    for node_id, spec in deployment.executor_specs.items():
        beam_spec = executable_spec_pb2.BeamExecutableSpec()
        if spec.Unpack(beam_spec):
            args[node_id] = list(beam_spec.beam_pipeline_args)
    return args


def test_beam_args_reach_every_beam_component(tmp_path):
    config = config_lib.load_config(os.path.join(CONFIGS, "multiprocess.yaml"), {
        "output_dir": str(tmp_path), "ranking.enabled": True, "retrieval.family": "hybrid"})
    assert config.beam_pipeline_args == MULTIPROCESS_ARGS
    # The Trainers, the TextEncoder and our evaluator are plain Python executors.
    assert beam_args_by_node(config) == {node: MULTIPROCESS_ARGS for node in BEAM_EXECUTORS}


def test_unset_beam_args_run_large_data_in_worker_processes(tmp_path):
    def args(**overrides):
        config = config_lib.load_config(None, {"output_dir": str(tmp_path), **overrides})
        return set(map(tuple, beam_args_by_node(config).values()))

    assert args() == {()}  # the 100,000-interaction default: in-process
    assert args(**{"dataset.shape": "ml-1m"}) == {tuple(beam_args.worker_process_args())}
    assert args(**{"dataset.shape": "ml-1m", "beam_pipeline_args": []}) == {()}


def test_vertex_preset_sends_the_beam_components_to_dataflow():
    config = config_lib.load_config(os.path.join(CONFIGS, "vertex.yaml"))
    assert config.output_dir == "gs://BUCKET/unirec"
    assert config.pipeline_root == "gs://BUCKET/unirec/pipeline_root/unirec"
    args = beam_args_by_node(config)
    assert set(args) == {"UnirecExampleGen", "StatisticsGen", "Transform"}
    for node_args in args.values():
        assert "--runner=DataflowRunner" in node_args
        assert any(a.startswith("--temp_location=gs://") for a in node_args)
        assert any(a.startswith("--sdk_container_image=") for a in node_args)


class BeamWorkerWatcher:
    """Polls /proc for Beam SDK worker processes started below this one and keeps the
    pipeline options each was given ($PIPELINE_OPTIONS)."""

    def __init__(self):
        self.options_by_pid = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _poll(self):
        me = os.getpid()
        while not self._stop.wait(0.2):
            for pid in filter(str.isdigit, os.listdir("/proc")):
                if int(pid) in self.options_by_pid:
                    continue
                try:
                    with open(f"/proc/{pid}/cmdline", "rb") as f:
                        # The Python process itself, not the shell that started it.
                        if b"apache_beam.runners.worker.sdk_worker_main" not in f.read().split(b"\0"):
                            continue
                    if not _descends_from(int(pid), me):
                        continue
                    with open(f"/proc/{pid}/environ", "rb") as f:
                        environ = dict(entry.split(b"=", 1) for entry in f.read().split(b"\0")
                                       if b"=" in entry)
                except OSError:  # the process ended meanwhile
                    continue
                if b"PIPELINE_OPTIONS" in environ:
                    self.options_by_pid[int(pid)] = _portable_options(environ[b"PIPELINE_OPTIONS"])


def _portable_options(text: bytes) -> dict:
    """{option: value} from a worker's options JSON, whose keys read beam:option:NAME:v1."""
    return {re.sub(r"^beam:option:(.*):v1$", r"\1", key): value
            for key, value in json.loads(text).items()}


def _descends_from(pid: int, ancestor: int) -> bool:
    for _ in range(8):
        with open(f"/proc/{pid}/stat") as f:
            pid = int(f.read().rsplit(")", 1)[1].split()[1])
        if pid == ancestor:
            return True
        if pid <= 1:
            return False
    return False


def test_multiprocess_preset_runs_the_beam_components_in_worker_processes(tmp_path, monkeypatch):
    """ExampleGen (two user shards), StatisticsGen and Transform (the Evaluator gets the
    same args, above) on the DirectRunner's worker processes; the run stops after
    Transform to stay small."""
    # TFX packs its own installation for remote workers whenever Beam args are set
    # (an sdist per Beam component, which the DirectRunner ignores): keep it in tmp_path.
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    monkeypatch.setattr(user_shards, "INTERACTIONS_PER_SHARD", 750)
    config = config_lib.load_config(os.path.join(CONFIGS, "multiprocess.yaml"), {
        **TINY_SAMPLE, "output_dir": str(tmp_path / "out")})

    with BeamWorkerWatcher() as watcher:
        tfx.orchestration.LocalDagRunner().run(
            pipeline_lib.create_pipeline(config),
            run_options=tfx_pipeline.RunOptions(to_nodes=["Transform"]))

    workers = collections.defaultdict(set)  # TFX's executor label -> worker pids
    for pid, options in watcher.options_by_pid.items():
        assert options["direct_running_mode"] == "multi_processing", options
        assert int(options["direct_num_workers"]) == 2, options
        executor = next(label.split("=", 1)[1] for label in options["labels"]
                        if label.startswith("tfx_executor="))
        workers[executor].add(pid)
    for node in ("UnirecExampleGen", "StatisticsGen", "Transform"):
        assert len(workers[BEAM_EXECUTORS[node]]) >= 2, (node, dict(workers))

    train_files = [name for root, _, files in os.walk(os.path.join(
        config.pipeline_root, "UnirecExampleGen", "examples")) if root.endswith("Split-train")
        for name in files]
    assert sorted(train_files) == [f"data_tfrecord-0000{s}-of-00002.gz" for s in (0, 1)]
    statistics = os.path.join(config.pipeline_root, "StatisticsGen", "statistics")
    assert any("FeatureStats.pb" in files for _, _, files in os.walk(statistics))
    transform_graph = os.path.join(config.pipeline_root, "Transform", "transform_graph")
    assert any("saved_model.pb" in files for _, _, files in os.walk(transform_graph))
    # StatisticsGen's statistics are not computed a second time.
    assert not os.path.exists(os.path.join(config.pipeline_root, "Transform", "pre_transform_stats"))
    assert not os.path.exists(os.path.join(config.pipeline_root, "Trainer"))
