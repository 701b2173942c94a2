"""Where the Trainer trains: one device, every local device, or a cluster of workers.

`strategy(name)` gives the tf.distribute strategy of `trainer.strategy`:

  none          the default strategy (one device)
  mirrored      tf.distribute.MirroredStrategy: every local GPU (the CPU when none)
  multi_worker  tf.distribute.MultiWorkerMirroredStrategy over the cluster in the
                TF_CONFIG environment variable (as Vertex AI Training sets it for a
                job of several replicas); every worker runs the same Trainer

Under multi_worker every worker reads the whole input and keeps its share of each
global batch (`distributed_input`), so all of them take the same steps; only the
chief writes the model (`is_chief`).
"""
import json
import os

import tensorflow as tf

NONE, MIRRORED, MULTI_WORKER = "none", "mirrored", "multi_worker"
STRATEGIES = (NONE, MIRRORED, MULTI_WORKER)


def strategy(name: str) -> tf.distribute.Strategy:
    if name == NONE:
        return tf.distribute.get_strategy()
    if name == MIRRORED:
        return tf.distribute.MirroredStrategy()
    if name == MULTI_WORKER:
        if not json.loads(os.environ.get("TF_CONFIG") or "{}").get("cluster"):
            raise ValueError("trainer.strategy multi_worker needs the cluster in the TF_CONFIG "
                             "environment variable (cluster and task); it is not set")
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"unknown trainer.strategy {name!r}; expected one of {list(STRATEGIES)}")


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the model: always, but on a non-chief worker of a
    cluster (the chief is the `chief` task, else worker 0)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type in ("chief", "master"):
        return True
    has_chief = any(job in resolver.cluster_spec().jobs for job in ("chief", "master"))
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief


def distributed_input(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """`dataset` sharded by data, not by file: each worker reads all of it and keeps its
    part of every global batch, so the workers take the same number of steps whatever
    the number and sizes of the files (file sharding would give them different ones)."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def agreed_mean(strategy: tf.distribute.Strategy, value: float) -> float:
    """The mean of `value` over the replicas: every worker gets the same number, so a
    decision taken on it (keep these weights, stop training) is the same everywhere."""
    if strategy.num_replicas_in_sync == 1:
        return value
    per_replica = strategy.run(lambda: tf.constant(value, tf.float32))
    return float(strategy.reduce(tf.distribute.ReduceOp.MEAN, per_replica, axis=None))


def barrier(strategy: tf.distribute.Strategy) -> None:
    """Returns once every worker has reached it (a collective needs them all)."""
    agreed_mean(strategy, 0.0)
