"""The Beam components' pipeline args when the config gives none: in-process for
small data, one DirectRunner worker process per core from a million interactions.

In the pipeline, d82bee1 (in-process) -> 2a756dd (two workers), 2 cores: at
ml-10m ExampleGen 205 -> 159 s, StatisticsGen 701 -> 367 s; at ml-1m StatisticsGen
82 -> 67 s, Transform 123 -> 114 s, ExampleGen 21 -> 27 s. Starting the workers
(each imports TensorFlow) is a fixed cost that small data does not win back.
"""
import os
from typing import List

from data_contract import adapters

WORKER_PROCESSES = ["--direct_running_mode=multi_processing", "--direct_num_workers=0"]
WORKER_PROCESSES_MIN_INTERACTIONS = 1_000_000
_SETUP_FILE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                           "setup.py")


def worker_process_args() -> List[str]:
    """WORKER_PROCESSES, and this package's setup.py as the workers' dependency.

    Unless the args name one, TFX packs its own installation as an sdist for remote
    workers before every Beam component (tfx/utils/dependency_utils.py), which the
    DirectRunner's workers never install: they run this Python environment."""
    setup_file = [f"--setup_file={_SETUP_FILE}"] if os.path.isfile(_SETUP_FILE) else []
    return WORKER_PROCESSES + setup_file


def beam_pipeline_args(config) -> List[str]:
    """The config's `beam_pipeline_args` when set (an empty list: in-process), else
    worker processes if the dataset holds at least WORKER_PROCESSES_MIN_INTERACTIONS
    interactions (adapters.estimated_interactions)."""
    if config.beam_pipeline_args is not None:
        return list(config.beam_pipeline_args)
    interactions = adapters.estimated_interactions(config.dataset)
    if interactions is not None and interactions >= WORKER_PROCESSES_MIN_INTERACTIONS:
        return worker_process_args()
    return []
