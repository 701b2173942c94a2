"""Crash and resume: SIGKILL the pipeline inside a component, rerun it, compare with an uninterrupted run.

    python benchmarks/crash_resume.py --config my.yaml --workdir /tmp/crash [--components Trainer ...]

First an uninterrupted run gives each component's wall time and the final metrics.
Then, for each component in turn, a fresh run in its own output folder is killed
(SIGKILL to its process group) halfway through that component, by the baseline's
time, and run again. The rerun must reuse every component that finished, rerun the
one that died, leave no partial artifact in ML Metadata or the serving folder, and
end with the baseline's metrics. Prints one line per component and exits 1 on any
failure. tests/pipeline/test_crash_resume.py runs the same check on one component.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Sequence

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
_PROGRESS = re.compile(r"^\[\s*[\d.]+s\] (\S+) (started|finished in ([\d.]+) s|reused from cache in [\d.]+ s)$")


@dataclasses.dataclass
class RunResult:
    exit_code: int
    ran: list[str]            # components that executed
    reused: list[str]         # components taken from the cache
    seconds: dict[str, float]
    killed_in: str | None
    output: str


def write_config(config: dict, output_dir: Path) -> Path:
    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / "config.yaml"
    path.write_text(yaml.safe_dump({**config, "output_dir": str(output_dir / "out")}))
    return path


def run_pipeline(config_path: Path, kill_in: str | None = None, kill_after: float = 0.0,
                 on_start: Callable[[str], None] | None = None, timeout: float = 1800) -> RunResult:
    """`unirec run` in a subprocess; with `kill_in`, SIGKILL `kill_after` seconds after that component starts.

    `on_start(component)` is called as each component starts, while the run goes on.
    """
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]),
               TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1")
    process = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "run", "--config", str(config_path)],
                               cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, start_new_session=True)
    lines: list[str] = []
    result = RunResult(exit_code=0, ran=[], reused=[], seconds={}, killed_in=None, output="")

    def kill_later() -> None:
        time.sleep(kill_after)
        if process.poll() is None and kill_in not in result.ran:  # still inside that component
            os.killpg(process.pid, signal.SIGKILL)
            result.killed_in = kill_in

    watchdog = threading.Timer(timeout, lambda: process.poll() is None and os.killpg(process.pid, signal.SIGKILL))
    watchdog.start()
    try:
        for line in process.stdout:
            lines.append(line)
            match = _PROGRESS.match(line.strip())
            if not match:
                continue
            component, what, seconds = match.groups()
            if what == "started" and component == kill_in:
                threading.Thread(target=kill_later, daemon=True).start()
            if what == "started" and on_start is not None:
                on_start(component)
            elif what.startswith("finished"):
                result.ran.append(component)
                result.seconds[component] = float(seconds)
            elif what.startswith("reused"):
                result.reused.append(component)
        result.exit_code = process.wait()
    finally:
        watchdog.cancel()
    result.output = "".join(lines)
    return result


def metrics(output_dir: Path) -> dict:
    from pipeline import run_summary

    summary = run_summary.read(str(_metadata_path(output_dir)))
    return {"evaluation": summary.evaluation["metrics"] if summary.evaluation else None,
            "ranking": summary.ranking_metrics or None}


def _metadata_path(output_dir: Path) -> Path:
    return next((output_dir / "out" / "metadata").glob("*/metadata.db"))


def partial_artifacts(output_dir: Path) -> list[str]:
    """What a killed run may have left: artifacts not LIVE or produced by an execution that did not finish,
    and hidden staging folders or incomplete versions in the serving folder."""
    from ml_metadata import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = str(_metadata_path(output_dir))
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    store = metadata_store.MetadataStore(config)
    finished = {metadata_store_pb2.Execution.COMPLETE, metadata_store_pb2.Execution.CACHED}
    executions = {execution.id: execution for execution in store.get_executions()}
    problems = []
    for artifact in store.get_artifacts():
        if artifact.state != metadata_store_pb2.Artifact.LIVE:
            problems.append(f"artifact {artifact.id} ({artifact.uri}) is {artifact.State.Name(artifact.state)}")
    for event in store.get_events_by_execution_ids(list(executions)):
        execution = executions[event.execution_id]
        if event.type == metadata_store_pb2.Event.OUTPUT and execution.last_known_state not in finished:
            problems.append(f"artifact {event.artifact_id} is an output of execution {execution.id} "
                            f"({execution.Execution.State.Name(execution.last_known_state)})")
    serving_root = output_dir / "out" / "serving"
    for base_path in serving_root.iterdir() if serving_root.is_dir() else []:
        if not base_path.is_dir():
            continue
        for entry in base_path.iterdir():
            if entry.name.startswith("."):
                problems.append(f"leftover staging folder {entry}")
            elif not (entry / "saved_model.pb").exists() or not (entry / "variables").is_dir():
                problems.append(f"incomplete version {entry}")
    return problems


@dataclasses.dataclass
class CrashCheck:
    component: str
    killed: bool
    rerun_exit_code: int
    rerun: list[str]
    reused: list[str]
    metrics_equal: bool
    partial: list[str]
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def crash_and_resume(config: dict, workdir: Path, component: str, baseline: RunResult,
                     baseline_metrics: dict) -> CrashCheck:
    """Kills a fresh run halfway through `component`, reruns it, and checks the rerun."""
    order = list(baseline.seconds)
    delay = baseline.seconds[component] / 2
    for _ in range(4):  # a short component may finish before the kill lands: start over, kill sooner
        shutil.rmtree(workdir, ignore_errors=True)
        config_path = write_config(config, workdir)
        killed = run_pipeline(config_path, kill_in=component, kill_after=delay)
        if killed.killed_in == component:
            break
        delay /= 4
    rerun = run_pipeline(config_path)
    problems = []
    if killed.killed_in != component:
        problems.append(f"the run was not killed in {component} (exit {killed.exit_code})")
    finished_before = order[:order.index(component)]
    if rerun.exit_code != 0:
        problems.append(f"rerun exited {rerun.exit_code}:\n{rerun.output[-3000:]}")
    if rerun.reused != finished_before:
        problems.append(f"rerun reused {rerun.reused}, expected {finished_before}")
    if component not in rerun.ran:
        problems.append(f"rerun did not run {component} again: ran {rerun.ran}")
    resumed_metrics = metrics(workdir) if rerun.exit_code == 0 else None
    equal = resumed_metrics == baseline_metrics
    if not equal:
        problems.append(f"metrics differ from the uninterrupted run: {resumed_metrics} vs {baseline_metrics}")
    partial = partial_artifacts(workdir) if rerun.exit_code == 0 else []
    problems.extend(partial)
    return CrashCheck(component, killed.killed_in == component, rerun.exit_code, rerun.ran, rerun.reused, equal,
                      partial, problems)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="pipeline YAML (its output_dir is replaced)")
    parser.add_argument("--workdir", required=True, help="scratch folder for the runs")
    parser.add_argument("--components", nargs="*", help="components to kill in (default: every one)")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args(argv)
    config = yaml.safe_load(Path(args.config).read_text()) or {}
    config.pop("output_dir", None)
    workdir = Path(args.workdir)
    baseline = run_pipeline(write_config(config, workdir / "baseline"))
    if baseline.exit_code != 0:
        print(baseline.output[-3000:])
        return 1
    baseline_metrics = metrics(workdir / "baseline")
    print(f"baseline: {len(baseline.ran)} components in {sum(baseline.seconds.values()):.0f} s: "
          + ", ".join(f"{name} {seconds:.1f}s" for name, seconds in baseline.seconds.items()), flush=True)
    checks = []
    for component in args.components or list(baseline.seconds):
        check = crash_and_resume(config, workdir / f"kill-{component}", component, baseline, baseline_metrics)
        checks.append(check)
        print(f"{component}: killed={check.killed} rerun exit {check.rerun_exit_code}, reused {len(check.reused)}, "
              f"reran {check.rerun}, metrics equal: {check.metrics_equal}, partial artifacts: {len(check.partial)}"
              + ("" if check.ok else "\n  " + "\n  ".join(check.problems)), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps([dataclasses.asdict(c) for c in checks], indent=2))
    print(f"{sum(c.ok for c in checks)} of {len(checks)} components: killed, resumed, equal metrics, "
          f"no partial artifact")
    return 0 if all(c.ok for c in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
