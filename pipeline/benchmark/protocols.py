"""Evaluation protocols: how each one splits the data and what it reports."""
import dataclasses
from typing import Any, Dict, Tuple


@dataclasses.dataclass(frozen=True)
class Protocol:
    name: str
    description: str
    split: Dict[str, Any]           # fields of components.example_gen.split_config.SplitConfig
    headline: Tuple[str, ...]       # the metrics its table leads with
    with_ranking: bool = False      # also train and evaluate the ranking model (RMSE)


PROTOCOLS = {
    "P1": Protocol("P1", "random 75/25: per user, a seeded random 25% of interactions are test",
                   {"method": "random", "eval_fraction": 0.25},
                   ("ndcg@10", "recall@10", "precision@10")),
    "P2": Protocol("P2", "rating 80/20: a seeded random 20% of all rows are test (ranking RMSE)",
                   {"method": "random_rows", "eval_fraction": 0.2},
                   ("ndcg@10", "recall@10", "rmse"), with_ranking=True),
    "P3": Protocol("P3", "temporal: per user, the last 20% of interactions by time are test",
                   {"method": "temporal", "eval_fraction": 0.2},
                   ("ndcg@10", "recall@10", "precision@10")),
    "P4": Protocol("P4", "cold items: a seeded 10% of items are held out of training entirely",
                   {"method": "temporal", "eval_fraction": 0.0, "holdout_item_fraction": 0.1},
                   ("cold_recall@20", "cold_ndcg@20")),
}
SEED = 42


def get(name: str) -> Protocol:
    try:
        return PROTOCOLS[name.upper()]
    except KeyError:
        raise ValueError(f"unknown protocol {name!r}; known: {sorted(PROTOCOLS)}") from None


def split_settings(protocol: Protocol) -> Dict[str, Any]:
    return {"seed": SEED, **protocol.split}
