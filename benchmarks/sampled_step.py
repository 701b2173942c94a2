"""Milliseconds per retrieval training step on a big catalogue (the sampled softmax).

    python -m benchmarks.sampled_step --items 59047 --objective denoise

Builds the cf family's towers (history bag, item id and bias; plus the history
Transformer for "future") over `--items` items at the default hparams (200
dimensions, batches of 128 users, 8,192 drawn negatives), feeds histories of
geometric lengths (mean 150, at most 1,000) over power-law items, and times
`RetrievalModel.train_step` after 5 warm-up steps.
"""
import argparse
import os
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402

from models import blocks, features, towers  # noqa: E402
from models.retrieval import model as model_lib  # noqa: E402
from models.retrieval.hparams import RetrievalHparams  # noqa: E402
from models.retrieval.trainer_module import optimizer  # noqa: E402


def history_batch(rng: np.random.Generator, popularity: np.ndarray, users: int):
    lengths = np.minimum(rng.geometric(1 / 150, users), 1000)
    indices = np.concatenate([np.stack([np.full(n, row), np.arange(n)], 1)
                              for row, n in enumerate(lengths)])
    items = rng.choice(len(popularity), size=len(indices), p=popularity)
    return {features.HISTORY_ITEM_IDS: tf.SparseTensor(indices, items, [users, lengths.max()])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=59_047)
    parser.add_argument("--objective", choices=["denoise", "future"], default="denoise")
    parser.add_argument("--steps", type=int, default=25)
    args = parser.parse_args()
    hparams = RetrievalHparams()
    names = ["history_bag", "item_id", "item_bias"]
    if args.objective == "future":
        names.append("history_sequence")
    context = blocks.BlockContext(
        embedding_dim=hparams.embedding_dim, vocab_sizes={features.ITEM_ID: args.items + 1},
        user_categorical=[], user_numeric=[], item_numeric=[], l2=hparams.l2,
        sequence_length=hparams.sequence_length)
    tf_keras.utils.set_random_seed(0)
    query_tower, item_tower = towers.build_towers(names, context)
    popularity = 1.0 / np.arange(1, args.items + 1)
    popularity /= popularity.sum()
    model = model_lib.RetrievalModel(
        query_tower, item_tower, {features.ITEM_ID: tf.range(args.items + 1, dtype=tf.int64)},
        objective=args.objective, full_softmax_max_items=hparams.full_softmax_max_items,
        sampled_negatives=hparams.sampled_negatives,
        item_popularity=popularity.astype(np.float32))
    model.compile(optimizer=optimizer(model, hparams))
    rng = np.random.default_rng(0)
    batches = [history_batch(rng, popularity, hparams.batch_size) for _ in range(args.steps + 5)]
    step = tf.function(model.train_step, input_signature=[
        {features.HISTORY_ITEM_IDS: tf.SparseTensorSpec([None, None], tf.int64)}])
    for batch in batches[:5]:
        step(batch)
    start = time.perf_counter()
    for batch in batches[5:]:
        step(batch)
    per_step = (time.perf_counter() - start) / args.steps * 1000
    print(f"{args.items} items, {args.objective}, sampled={model.sampled}: "
          f"{per_step:.1f} ms per step")


if __name__ == "__main__":
    main()
