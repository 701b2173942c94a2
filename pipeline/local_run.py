"""Runs the pipeline in this process with LocalDagRunner, showing progress."""
import contextlib
import os
import sys

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

from pipeline import config as config_lib  # noqa: E402
from pipeline import progress, run_summary  # noqa: E402


@contextlib.contextmanager
def _silenced_output_fds():
    """Sends file descriptors 1 and 2 (subprocesses included) to /dev/null."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 1)
        os.dup2(devnull.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)


def compile_quietly(tfx_pipeline):
    """The pipeline IR, built without setuptools' page of output per module file.

    Compiling packages each module file into a wheel in a `setup.py bdist_wheel`
    subprocess; this is LocalDagRunner.run's own first step (TFX 1.16).
    """
    from tfx.orchestration.portable import tfx_runner

    with _silenced_output_fds():
        return tfx_runner._make_pipeline_proto(tfx_pipeline)  # pylint: disable=protected-access


def run_pipeline(config: config_lib.PipelineConfig) -> run_summary.RunSummary:
    """Runs every component (or reuses its cached result); returns what the run produced."""
    import tensorflow as tf
    from tfx import v1 as tfx

    from pipeline import pipeline as pipeline_lib

    # TFX pip-installs each module file's wheel into a temporary folder per run.
    os.environ.setdefault("PIP_QUIET", "1")
    tracker = progress.ComponentProgress()
    progress.attach(tracker)
    tf.get_logger().setLevel("ERROR")
    tfx.orchestration.LocalDagRunner().run_with_ir(
        compile_quietly(pipeline_lib.create_pipeline(config)))
    print("\n" + tracker.table())
    summary = run_summary.read(config.metadata_path)
    summary.component_seconds = {row["component"]: row["seconds"] for row in tracker.rows}
    return summary
