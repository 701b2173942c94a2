"""The exported index: which kind a catalogue gets, and ScaNN's recall against BruteForce."""
import pytest

from benchmarks import scann_index
from models.retrieval import index
from models.retrieval.hparams import RetrievalHparams


def test_auto_switches_to_scann_at_the_configured_catalogue_size():
    assert index.resolve("auto", 99_999, scann_min_items=100_000) == index.BRUTE_FORCE
    assert index.resolve("auto", 100_000, scann_min_items=100_000) == index.SCANN
    assert index.resolve("brute_force", 10**7, scann_min_items=100_000) == index.BRUTE_FORCE
    assert index.resolve("scann", 10, scann_min_items=100_000) == index.SCANN


def test_an_unknown_index_kind_is_refused_when_the_config_is_read():
    with pytest.raises(ValueError, match="retrieval.index must be one of brute_force, scann, auto"):
        RetrievalHparams(index="hnsw")


def test_scann_returns_most_of_the_exact_top_100_on_a_big_catalogue():
    row = scann_index.measure(num_items=20_000, dim=65, k=100, batch=1, eval_queries=200, seed=0)
    assert row["leaves"][0] > 1  # a partitioned search, not a scan of everything
    assert row["recall@100"] >= 0.9
