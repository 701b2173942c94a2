"""`unirec benchmark`: runs evaluation protocols end to end and writes a report.

Each protocol is one pipeline (its own split); each family trains in it, and
the evaluator scores the family models and every baseline on the same split.
"""
import argparse
import os
import sys
import time
from typing import Dict, List, Mapping, Optional

from pipeline import config as config_lib
from pipeline.benchmark import protocols as protocols_lib
from pipeline.benchmark import report


def _overrides(protocol: protocols_lib.Protocol, family: str, dataset_name: str,
               output_dir: str, epochs: Optional[int]) -> Dict:
    overrides = {
        "pipeline_name": f"bench-{dataset_name}-{protocol.name}".lower().replace("_", "-"),
        "output_dir": output_dir,
        "examples.split": protocols_lib.split_settings(protocol),
        "retrieval.family": family,
        "retrieval.model_name": f"retrieval-{family}",
        "evaluation.report_baselines": ["itemknn", "ease", "als", "tags_linear"],
    }
    if protocol.with_ranking:
        overrides["ranking.enabled"] = True
    if epochs is not None:
        overrides["retrieval.epochs"] = epochs
    return overrides


def external_protocol(split_dir: str) -> protocols_lib.Protocol:
    """A split written by another tool: split_dir/train.csv and split_dir/test.csv."""
    split_dir = os.path.abspath(split_dir)
    return protocols_lib.Protocol(
        "external", f"the split in {split_dir}",
        {"method": "files", "train_file": os.path.join(split_dir, "train.csv"),
         "test_file": os.path.join(split_dir, "test.csv")},
        ("ndcg@10", "recall@10", "precision@10"))


def write_top_k(recommendations_path: str, output_path: str, k: int,
                raw_user_ids: Mapping[str, str]) -> None:
    """Cuts the evaluator's rankings to the first k items, naming each user by the raw id
    (`raw_user_ids`: pseudonym -> raw id) that the split's files use."""
    with open(recommendations_path) as source, open(output_path, "w") as target:
        for number, line in enumerate(source, start=1):
            user, items = line.rstrip("\n").split(",", 1)
            if user not in raw_user_ids:
                raise ValueError(f"{recommendations_path}, line {number}: user {user!r} is the "
                                 "pseudonym of no user of the dataset under this key")
            target.write(f"{raw_user_ids[user]},{' '.join(items.split()[:k])}\n")


def pseudonym_to_raw(config: config_lib.PipelineConfig) -> Dict[str, str]:
    """Pseudonym -> raw user id for the config's data, kept in memory only."""
    from data_contract import pseudonyms
    from pipeline import privacy_audit

    pseudonymiser = pseudonyms.Pseudonymiser(pseudonyms.resolve_key(config.privacy.key_file))
    return {pseudonymiser(raw): raw for raw in privacy_audit.raw_user_ids_of(config)}


def recs_path(recs_out: str, family: str, families: List[str]) -> str:
    if len(families) == 1:
        return recs_out
    stem, extension = os.path.splitext(recs_out)
    return f"{stem}.{family}{extension}"


def run_benchmark(config_path: Optional[str], dataset_overrides: Dict,
                  protocol_list: List[protocols_lib.Protocol], families: List[str],
                  output_dir: str, epochs: Optional[int] = None,
                  recs_out: Optional[str] = None, k: int = 10) -> Dict:
    from pipeline import progress

    output_dir = os.path.abspath(output_dir)
    base = config_lib.load_config(config_path, dataset_overrides)
    results = {"dataset": base.dataset.get("name"), "cutoffs": base.evaluation.cutoffs,
               "protocols": {}}
    for protocol in protocol_list:
        results["protocols"][protocol.name] = {}
        for family in families:
            print(f"\n=== {protocol.name} ({protocol.description}), family {family} ===", flush=True)
            config = config_lib.load_config(config_path, {
                **dataset_overrides,
                **_overrides(protocol, family, base.dataset.get("name", "data"),
                             os.path.join(output_dir, "runs"), epochs)})
            started = time.monotonic()
            summary = progress.run_pipeline(config)
            results["protocols"][protocol.name][family] = {
                "metrics": summary.evaluation["metrics"],
                "blessed": summary.evaluation["blessing"]["blessed"],
                "user_sample": summary.evaluation["user_sample"],
                "skipped_baselines": summary.evaluation["skipped_baselines"],
                "seconds": round(time.monotonic() - started, 1),
                "component_seconds": summary.component_seconds,
                "training_history": summary.training_history,
                "rmse": summary.ranking_metrics.get("root_mean_squared_error"),
            }
            if recs_out:
                write_top_k(summary.recommendations_path, recs_path(recs_out, family, families), k,
                            pseudonym_to_raw(config))
    return results


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="YAML config with the dataset (default: synthetic)")
    parser.add_argument("--dataset", help="synthetic | movielens-100k | csv")
    parser.add_argument("--data-dir", help="folder of the dataset's files")
    parser.add_argument("--protocols", default="P1,P2,P3,P4",
                        help="comma-separated protocols: " + "; ".join(
                            f"{p.name} = {p.description}".replace("%", "%%")
                            for p in protocols_lib.PROTOCOLS.values()))
    parser.add_argument("--families", default="cf,content,hybrid")
    parser.add_argument("--epochs", type=int, help="override the retrieval epochs")
    parser.add_argument("--output-dir", default="benchmark_output")
    parser.add_argument("--split-dir", help="use the split in DIR/train.csv and DIR/test.csv "
                                            "(header user_id,item_id,rating,timestamp) instead of "
                                            "the protocols")
    parser.add_argument("--recs-out", help="write each test user's top-k items (training items "
                                           "excluded) as lines 'user_id,item_1 item_2 ...', with "
                                           "the data's raw user ids")
    parser.add_argument("--k", type=int, default=10, help="items per user in --recs-out")


def main(args: argparse.Namespace) -> int:
    dataset_overrides = config_lib.dataset_overrides(args.dataset, args.data_dir)
    if args.split_dir:
        protocol_list = [external_protocol(args.split_dir)]
    else:
        protocol_list = [protocols_lib.get(p.strip()) for p in args.protocols.split(",") if p.strip()]
    families = [f.strip() for f in args.families.split(",") if f.strip()]
    recs_out = os.path.abspath(args.recs_out) if args.recs_out else None
    if recs_out and len(protocol_list) > 1:
        print("unirec benchmark: --recs-out needs a single protocol or --split-dir", file=sys.stderr)
        return 2
    results = run_benchmark(args.config, dataset_overrides, protocol_list, families,
                            args.output_dir, args.epochs, recs_out, args.k)
    paths = report.write(results, os.path.abspath(args.output_dir))
    print("\n" + report.markdown_table(results))
    print("\nWrote " + ", ".join(paths.values()))
    return 0
