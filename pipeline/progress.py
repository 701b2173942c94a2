"""Runs the pipeline in this process with readable progress (`unirec run`, `unirec benchmark`).

TFX logs every proto it touches at INFO. This module turns LocalDagRunner's
"Component X is running/finished" records into one line each, silences the
rest below WARNING, and ends with a table of wall times.
"""
import logging
import sys
import time
from typing import Dict, List, Optional, TextIO

import tensorflow as tf
from tfx import v1 as tfx

from pipeline import config as config_lib
from pipeline import pipeline as pipeline_lib
from pipeline import run_lock, run_summary

_RUNNING = "Component %s is running."
_FINISHED = "Component %s is finished."
_CACHED = "A cached execution %d is used."
# Warnings that TFX 1.16 and TFT print on every run and that need no action.
_KNOWN_NOISE = ("ArtifactQuery.property_predicate is not supported.",
                "ContextQuery.property_predicate is not supported.",
                "Tables initialized inside a tf.function")


class ComponentProgress(logging.Handler):
    """Collects per-component wall times from the LocalDagRunner's log records."""

    def __init__(self, stream: Optional[TextIO] = None):
        super().__init__(level=logging.INFO)
        self.stream = stream or sys.stdout
        self.started_at = time.monotonic()
        self.rows: List[Dict] = []
        self._current: Optional[Dict] = None

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg == _RUNNING:
            self.on_start()
            self._current = {"component": record.args[0], "status": "ran",
                             "start": time.monotonic()}
            self._print(f"{self._current['component']} started")
        elif record.msg == _CACHED and self._current is not None:
            self._current["status"] = "cached"
        elif record.msg == _FINISHED and self._current is not None:
            self._current["seconds"] = time.monotonic() - self._current["start"]
            self.rows.append(self._current)
            self._print(f"{self._current['component']} {'finished' if self._current['status'] == 'ran' else 'reused from cache'}"
                        f" in {self._current['seconds']:.1f} s")
            self._current = None
            self.on_finish(self.rows[-1])

    def on_start(self) -> None:
        """Called as a component starts (for subclasses that measure more)."""

    def on_finish(self, row: Dict) -> None:
        """Called with a component's row once it finished (for subclasses)."""

    def _print(self, text: str) -> None:
        elapsed = time.monotonic() - self.started_at
        print(f"[{elapsed:7.1f}s] {text}", file=self.stream, flush=True)

    def table(self) -> str:
        lines = [f"{'component':<24} {'status':<8} {'seconds':>8}", "-" * 42]
        for row in self.rows:
            lines.append(f"{row['component']:<24} {row['status']:<8} {row['seconds']:>8.1f}")
        lines.append("-" * 42)
        lines.append(f"{'total':<33} {time.monotonic() - self.started_at:>8.1f}")
        return "\n".join(lines)


def attach(progress: ComponentProgress) -> None:
    """Routes TFX's absl records to `progress`; only WARNING and above reach stderr."""
    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.INFO)
    logger = logging.getLogger("absl")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    warnings_handler = logging.StreamHandler(sys.stderr)
    warnings_handler.setLevel(logging.WARNING)
    warnings_handler.addFilter(
        lambda record: not str(record.msg).startswith(_KNOWN_NOISE))
    logger.handlers = [progress, warnings_handler]
    # Beam's TFRecord writer suggests python-snappy for a faster checksum on every run.
    logging.getLogger("apache_beam.io.tfrecordio").setLevel(logging.ERROR)


def run_pipeline(config: config_lib.PipelineConfig,
                 tracker: Optional[ComponentProgress] = None) -> run_summary.RunSummary:
    """Runs every component (or reuses its cached result); returns what the run produced.
    `tracker` (default: a plain ComponentProgress) receives the component records."""
    tracker = tracker or ComponentProgress()
    attach(tracker)
    tf.get_logger().setLevel("ERROR")
    with run_lock.hold(config.metadata_path):
        tfx.orchestration.LocalDagRunner().run(pipeline_lib.create_pipeline(config))
    print("\n" + tracker.table())
    summary = run_summary.read(config.metadata_path)
    summary.component_seconds = {row["component"]: row["seconds"] for row in tracker.rows}
    return summary
