"""ScaNN against BruteForce on big catalogues: recall@k of ScaNN's top k and query latency.

    python -m benchmarks.scann_index --items 20000,100000,500000 --dim 201

Item vectors are drawn as the retrieval model's are shaped: clusters (topics) of
power-law sizes in `dim` dimensions, the last one a bias the query multiplies by
1; queries are mixtures of a few clusters. Recall@k = the share of BruteForce's
exact top k that ScaNN also returns. Latency is the median wall time of one
call of the index on `--batch` queries, after warm-up.
"""
import argparse
import json
import os
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from models.retrieval import index as index_lib  # noqa: E402


def clustered_vectors(rng: np.random.Generator, num_items: int, dim: int, clusters: int):
    """(item vectors [num_items, dim], cluster centres [clusters, dim - 1])."""
    centres = rng.normal(size=(clusters, dim - 1)).astype(np.float32)
    sizes = 1.0 / np.arange(1, clusters + 1)
    member = rng.choice(clusters, size=num_items, p=sizes / sizes.sum())
    vectors = centres[member] + 0.7 * rng.normal(size=(num_items, dim - 1)).astype(np.float32)
    bias = rng.normal(scale=0.5, size=(num_items, 1)).astype(np.float32)
    return np.concatenate([vectors, bias], axis=1), centres


def queries(rng: np.random.Generator, centres: np.ndarray, count: int) -> np.ndarray:
    mix = rng.dirichlet(np.full(3, 1.0), size=count).astype(np.float32)
    picked = rng.choice(len(centres), size=(count, 3))
    q = np.einsum("bc,bcd->bd", mix, centres[picked]) + 0.3 * rng.normal(
        size=(count, centres.shape[1])).astype(np.float32)
    return np.concatenate([q, np.ones((count, 1), np.float32)], axis=1)


def median_seconds(layer, query: tf.Tensor, repeats: int) -> float:
    call = tf.function(lambda q: layer(q))
    call(query)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call(query)[1].numpy()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def measure(num_items: int, dim: int, k: int, batch: int, eval_queries: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    vectors, centres = clustered_vectors(rng, num_items, dim, clusters=max(8, num_items // 500))
    ids = tf.constant([f"i{i}" for i in range(num_items)])
    vectors = tf.constant(vectors)
    start = time.perf_counter()
    brute = index_lib.build(index_lib.BRUTE_FORCE, k, vectors, ids)
    scann = index_lib.build(index_lib.SCANN, k, vectors, ids)
    build_seconds = time.perf_counter() - start
    test = tf.constant(queries(rng, centres, eval_queries))
    exact, approx = brute(test)[1].numpy(), scann(test)[1].numpy()
    recall = np.mean([len(set(e) & set(a)) / len(e) for e, a in zip(exact, approx)])
    query = test[:batch]
    brute_s, scann_s = median_seconds(brute, query, 20), median_seconds(scann, query, 20)
    return {"items": num_items, "dim": dim, "k": k, "batch": batch,
            "leaves": index_lib.scann_leaves(num_items), f"recall@{k}": round(float(recall), 4),
            "brute_force_ms": round(1000 * brute_s, 2), "scann_ms": round(1000 * scann_s, 2),
            "latency_ratio": round(brute_s / scann_s, 2), "build_s": round(build_seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", default="20000,100000,500000")
    parser.add_argument("--dim", type=int, default=201)
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--batch", type=int, default=1, help="queries per timed call")
    parser.add_argument("--eval-queries", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"{'items':>9} {'recall@' + str(args.k):>10} {'brute ms':>9} {'scann ms':>9} "
          f"{'speed-up':>8}", flush=True)
    for num_items in (int(n) for n in args.items.split(",")):
        row = measure(num_items, args.dim, args.k, args.batch, args.eval_queries, args.seed)
        print(f"{row['items']:>9} {row[f'recall@{args.k}']:>10.4f} {row['brute_force_ms']:>9.2f} "
              f"{row['scann_ms']:>9.2f} {row['latency_ratio']:>7.2f}x  {json.dumps(row)}",
              flush=True)


if __name__ == "__main__":
    main()
