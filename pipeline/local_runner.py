"""Runs the pipeline with LocalDagRunner; the file `tfx pipeline create --engine local` reads.

The config comes from $UNIREC_CONFIG (default: the synthetic catalogue). The
TFX CLI keeps only this file's path, so set the same environment for
`tfx pipeline create` and `tfx run create`.
"""
import os
import sys

# Run as a script (the TFX CLI does that), this folder is first on sys.path and
# its pipeline.py would shadow the `pipeline` package: put the repository root there.
_HERE = os.path.dirname(os.path.abspath(__file__))
if sys.path and os.path.abspath(sys.path[0] or ".") == _HERE:
    sys.path[0] = os.path.dirname(_HERE)

from pipeline import config as config_lib  # noqa: E402  (asks for Keras 2 before TFX loads)
from pipeline import pipeline as pipeline_lib  # noqa: E402
from pipeline import run_lock  # noqa: E402
from tfx import v1 as tfx  # noqa: E402


def main() -> None:
    config = config_lib.load_config(os.environ.get("UNIREC_CONFIG"))
    with run_lock.hold(config.metadata_path):
        tfx.orchestration.LocalDagRunner().run(pipeline_lib.create_pipeline(config))


if __name__ == "__main__":
    main()
