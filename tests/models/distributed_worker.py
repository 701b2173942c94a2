"""Test helper: one worker of a multi-worker retrieval Trainer, as a process of its own.

    TF_CONFIG=... python distributed_worker.py ARGS_JSON

ARGS_JSON holds the FnArgs fields the Trainer gets (train_files, eval_files,
transform_graph_path, serving_model_dir, model_run_dir, custom_config) and
`weights_file`: where the worker saves its trained weights and its number of
replicas, so that the test can compare the workers' models.
"""
import json
import sys

import numpy as np
from tfx.components.trainer.fn_args_utils import FnArgs

import models  # noqa: F401  asks TensorFlow for Keras 2
from models import trainer_lib
from models.retrieval.trainer_module import Retrieval


class WeightsSavingRetrieval(Retrieval):
    """The retrieval model type, saving what it trained before exporting it."""

    def __init__(self, weights_file: str):
        self.weights_file = weights_file

    def export(self, model, run, export_dir):
        np.savez(self.weights_file, *model.get_weights(),
                 replicas=model.distribute_strategy.num_replicas_in_sync)
        super().export(model, run, export_dir)


def main(args_file: str) -> None:
    with open(args_file) as f:
        args = json.load(f)
    weights_file = args.pop("weights_file")
    trainer_lib.run(FnArgs(**args), WeightsSavingRetrieval(weights_file))


if __name__ == "__main__":
    main(sys.argv[1])
