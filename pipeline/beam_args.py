"""The Beam components' pipeline args when the config gives none: in-process for
small data, one DirectRunner worker process per core from a million interactions.

Each executor alone on one run's artifacts (2 cores, in-process -> 2 workers):
StatisticsGen at ml-10m about 700 s -> 342 s, at ml-1m 71 -> 63 s; Transform at
ml-1m 109 -> 104 s. Starting the workers (each imports TensorFlow, and TFX packs
its own sdist for them) costs about 10 s a component, which small data does not
win back: ExampleGen at ml-1m took 17.3 s in-process and 21.2 s with two.
"""
from typing import List

from data_contract import adapters

WORKER_PROCESSES = ["--direct_running_mode=multi_processing", "--direct_num_workers=0"]
WORKER_PROCESSES_MIN_INTERACTIONS = 1_000_000


def beam_pipeline_args(config) -> List[str]:
    """The config's `beam_pipeline_args` when set (an empty list: in-process), else
    worker processes if the dataset holds at least WORKER_PROCESSES_MIN_INTERACTIONS
    interactions (adapters.estimated_interactions)."""
    if config.beam_pipeline_args is not None:
        return list(config.beam_pipeline_args)
    interactions = adapters.estimated_interactions(config.dataset)
    if interactions is not None and interactions >= WORKER_PROCESSES_MIN_INTERACTIONS:
        return list(WORKER_PROCESSES)
    return []
