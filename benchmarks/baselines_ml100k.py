"""Reproduces the baselines table on MovieLens 100K; prints Markdown.

P1 "random 75/25": per user, a seeded random 25% of their interactions is the
test set; every interaction is a positive; full-catalogue top-k with the user's
training items excluded.
P4 "cold items": a seeded 10% of the items is held out entirely (their
interactions are the test set, all others train); cold Recall@20 ranks only the
cold items, for each user with a test interaction.

    python benchmarks/baselines_ml100k.py [--data-dir DIR] [--seed 0] [--tune]

--tune also prints the validation grids behind the ALS and BPR defaults.
"""
import argparse
import os
import sys
import time
from typing import Dict, List, Tuple

import numpy as np
import pandas as pd
import scipy.sparse as sp

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from data_contract import movielens  # noqa: E402
from models import baselines  # noqa: E402
from models.baselines import als, bpr  # noqa: E402
from models.features import ITEM_ID, USER_ID  # noqa: E402

DEFAULT_DATA_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                os.pardir, "shared", "data", "ml-100k")
P1_TEST_FRACTION = 0.25
P4_COLD_FRACTION = 0.10
COLD_CAPABLE = ("random", "tags_linear")  # The others have no signal for unseen items.


def interaction_matrix(dataset) -> sp.csr_matrix:
    """users × items 0/1, columns in the order of dataset.items."""
    frame = dataset.interactions
    users = pd.Index(sorted(frame[USER_ID].unique()))
    items = pd.Index(dataset.items[ITEM_ID])
    rows = users.get_indexer(frame[USER_ID])
    columns = items.get_indexer(frame[ITEM_ID])
    return sp.csr_matrix((np.ones(len(frame)), (rows, columns)), shape=(len(users), len(items)))


def cold_item_split(matrix: sp.csr_matrix, fraction: float, seed: int
                    ) -> Tuple[sp.csr_matrix, sp.csr_matrix, np.ndarray]:
    """(train, test, cold items): every interaction with a cold item is in test, none in train."""
    num_items = matrix.shape[1]
    cold = np.sort(np.random.default_rng(seed).choice(
        num_items, int(round(fraction * num_items)), replace=False))
    is_cold = sp.diags(np.isin(np.arange(num_items), cold).astype(np.float64))
    test = sp.csr_matrix(matrix @ is_cold)
    train = sp.csr_matrix(matrix - test)
    for part in (train, test):
        part.eliminate_zeros()
    return train, test, cold


def timed_evaluation(name: str, seed: int, train: sp.csr_matrix, test: sp.csr_matrix,
                     cutoffs: List[int], item_features: np.ndarray, items=None
                     ) -> Tuple[Dict[str, float], float, baselines.Baseline]:
    start = time.perf_counter()
    baseline = baselines.make_baseline(name, seed).fit(train, item_features)
    metrics = baselines.evaluate(baseline, train, test, cutoffs, items)
    return metrics, time.perf_counter() - start, baseline


def print_tuning(train: sp.csr_matrix, seed: int) -> None:
    for name, make, grid in (("als", als.ALS, als.TUNING_GRID),
                             ("bpr", bpr.BPR, bpr.TUNING_GRID)):
        search = baselines.GridSearch(lambda **params: make(seed=seed, **params), grid, seed=seed)
        search.fit(train)
        print(f"\n{name} validation NDCG@10 (20% per-user carve of P1 train, seed {seed}):")
        for params, ndcg in zip(grid, search.validation_ndcg):
            print(f"  {params}: {ndcg:.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.path.normpath(DEFAULT_DATA_DIR),
                        help="extracted GroupLens ml-100k folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tune", action="store_true")
    args = parser.parse_args()

    dataset = movielens.load_100k(args.data_dir)
    matrix = interaction_matrix(dataset)
    item_tags, _ = baselines.multi_hot(list(dataset.items["genres"]))
    p1_train, p1_test = baselines.holdout_per_user(matrix, P1_TEST_FRACTION, args.seed)
    p4_train, p4_test, cold = cold_item_split(matrix, P4_COLD_FRACTION, args.seed)
    print(f"ML-100K: {matrix.shape[0]} users, {matrix.shape[1]} items, {matrix.nnz} interactions;"
          f" P1 {p1_train.nnz} train / {p1_test.nnz} test; P4 {len(cold)} cold items,"
          f" {p4_test.nnz} cold test interactions; seed {args.seed}\n")
    print("| baseline | P1 NDCG@10 | P1 Recall@10 | P1 P@10 | P1 time (s) | chosen by validation "
          "| P4 cold Recall@20 | P4 time (s) |")
    print("|---|---|---|---|---|---|---|---|")
    for name in baselines.BASELINES:
        p1, p1_seconds, fitted = timed_evaluation(name, args.seed, p1_train, p1_test, [10],
                                                  item_tags)
        chosen = getattr(fitted, "best_params", None) or ""
        cold_cells = "— | —"
        if name in COLD_CAPABLE:
            p4, p4_seconds, _ = timed_evaluation(name, args.seed, p4_train, p4_test, [20],
                                                 item_tags, cold)
            cold_cells = f"{p4['recall@20']:.4f} | {p4_seconds:.1f}"
        print(f"| {name} | {p1['ndcg@10']:.4f} | {p1['recall@10']:.4f} | "
              f"{p1['precision@10']:.4f} | {p1_seconds:.1f} | {chosen} | {cold_cells} |",
              flush=True)
    if args.tune:
        print_tuning(p1_train, args.seed)


if __name__ == "__main__":
    main()
