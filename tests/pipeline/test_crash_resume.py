"""Crash and resume: a run SIGKILLed inside the Trainer resumes from the cache and ends where an uninterrupted
run ends; a second run on the same output folder meanwhile is refused and harms nothing.

benchmarks/crash_resume.py runs the same check for every component (a measurement, not CI).
"""
from __future__ import annotations

import subprocess
import sys

from benchmarks import crash_resume

PREDECESSORS = ["UnirecExampleGen", "StatisticsGen", "UnirecSchemaGen", "ExampleValidator", "AnomaliesGate",
                "Transform"]


def test_killed_in_the_trainer_resumes_to_the_same_metrics(small_sample, finished_run_metrics, tmp_path):
    config_path = crash_resume.write_config(small_sample, tmp_path)
    concurrent = {}

    def start_a_second_run(component: str) -> None:
        if component == "Transform":  # the first run holds the output folder for a while yet
            concurrent["result"] = subprocess.run(
                [sys.executable, "-m", "pipeline.cli", "run", "--config", str(config_path)],
                cwd=crash_resume.REPO_ROOT, capture_output=True, text=True, timeout=300)

    killed = crash_resume.run_pipeline(config_path, kill_in="Trainer", kill_after=3.0, on_start=start_a_second_run)
    assert killed.killed_in == "Trainer", killed.output[-3000:]
    assert killed.ran == PREDECESSORS

    second = concurrent["result"]
    assert second.returncode == 3, second.stdout[-2000:] + second.stderr[-2000:]
    assert "another pipeline run" in second.stderr and "metadata.db" in second.stderr

    rerun = crash_resume.run_pipeline(config_path)
    assert rerun.exit_code == 0, rerun.output[-3000:]
    assert rerun.reused == PREDECESSORS
    assert rerun.ran == ["Trainer", "RetrievalEvaluator", "ServingPusher"]
    assert crash_resume.partial_artifacts(tmp_path) == []
    assert crash_resume.metrics(tmp_path)["evaluation"] == finished_run_metrics
