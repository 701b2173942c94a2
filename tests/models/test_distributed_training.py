"""The retrieval Trainer under trainer.strategy: mirrored in this process, multi_worker
as two local CPU worker processes (TF_CONFIG) that must train the same model, of which
only the chief exports."""
import json
import os
import pathlib
import socket
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from tfx.components.trainer.fn_args_utils import FnArgs

from components.example_gen.split_config import SplitConfig
from data_contract import synthetic
from models import distribution, features, trainer_lib
from models.retrieval.trainer_module import Retrieval
from training_sample import write_training_sample

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
WORKER = pathlib.Path(__file__).resolve().parent / "distributed_worker.py"
# cf on a random split: the history bag and the item-item term fitted after training.
# 60 users in batches of 59: each epoch ends on a batch of one user, which two
# replicas cannot share (models/retrieval/data.py:shuffled leaves it out).
HPARAMS = dict(family="cf", objective="denoise", embedding_dim=16, epochs=4,
               validation_every=2, patience=2, refit_epochs=2, batch_size=59,
               min_steps_per_epoch=1)


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    dataset = synthetic.generate(num_users=60, num_items=80, num_interactions=1500, seed=3)
    return write_training_sample(tmp_path_factory.mktemp("distributed"), dataset,
                                 SplitConfig(method="random"), history_length=5)


def _fn_args(sample, out: pathlib.Path, strategy: str) -> dict:
    return dict(train_files=sample.files(features.TRAIN_SPLIT),
                eval_files=sample.files(features.EVAL_SPLIT),
                transform_graph_path=sample.transform_dir,
                serving_model_dir=str(out / "serving_model_dir"),
                model_run_dir=str(out / "model_run"),
                custom_config={"retrieval": HPARAMS, trainer_lib.STRATEGY_KEY: strategy})


def _free_ports(count: int):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_mirrored_trains_and_exports(sample, tmp_path):
    args = _fn_args(sample, tmp_path, distribution.MIRRORED)
    trainer_lib.run(FnArgs(**args), Retrieval())
    history = json.loads((tmp_path / "model_run" / trainer_lib.HISTORY_FILE).read_text())
    assert history["best_epoch"][0] > 0
    assert len(history["loss"]) == HPARAMS["refit_epochs"]  # went on, on whole histories
    assert np.isfinite(history["loss"]).all()
    served = tf.saved_model.load(args["serving_model_dir"])
    assert "serving_default" in served.signatures


def test_multi_worker_trains_one_model_that_only_the_chief_exports(sample, tmp_path):
    ports = _free_ports(2)
    cluster = {"worker": [f"localhost:{port}" for port in ports]}
    workers = []
    for index in range(2):
        out = tmp_path / f"worker{index}"
        (out / "tmp").mkdir(parents=True)
        args = {**_fn_args(sample, out, distribution.MULTI_WORKER),
                "weights_file": str(out / "weights.npz")}
        (out / "args.json").write_text(json.dumps(args))
        env = {**os.environ, "TF_CONFIG": json.dumps(
                   {"cluster": cluster, "task": {"type": "worker", "index": index}}),
               "PYTHONPATH": str(REPO_ROOT), "TF_CPP_MIN_LOG_LEVEL": "3",
               "TMPDIR": str(out / "tmp")}
        workers.append(subprocess.Popen(
            [sys.executable, str(WORKER), str(out / "args.json")], env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outputs = []
    try:
        for worker in workers:
            outputs.append(worker.communicate(timeout=300)[0])
    finally:
        for worker in workers:
            worker.kill()
    assert [worker.returncode for worker in workers] == [0, 0], "\n".join(
        f"worker {index}:\n{output[-4000:]}" for index, output in enumerate(outputs))

    chief, other = tmp_path / "worker0", tmp_path / "worker1"
    weights = [np.load(out / "weights.npz") for out in (chief, other)]
    assert int(weights[0]["replicas"]) == int(weights[1]["replicas"]) == 2
    names = [name for name in weights[0].files if name != "replicas"]
    assert names and names == [name for name in weights[1].files if name != "replicas"]
    for name in names:
        np.testing.assert_array_equal(weights[0][name], weights[1][name], err_msg=name)
    assert (chief / "serving_model_dir" / "saved_model.pb").exists()
    assert (chief / "model_run" / trainer_lib.HISTORY_FILE).exists()
    assert not (other / "serving_model_dir").exists()
    assert not list((other / "tmp").glob("unirec-worker-export-*"))  # its export, deleted
    assert not (other / "model_run" / trainer_lib.HISTORY_FILE).exists()
