"""`unirec benchmark`: runs evaluation protocols end to end and writes a report.

Each protocol is one pipeline (its own split); each family trains in it, and
the evaluator scores the family models and every baseline on the same split.
"""
import argparse
import os
import time
from typing import Dict, List, Optional

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
        "evaluation.report_baselines": ["itemknn", "ease", "als", "bpr", "tags_linear"],
    }
    if epochs is not None:
        overrides["retrieval.epochs"] = epochs
    return overrides


def run_benchmark(config_path: Optional[str], dataset_overrides: Dict, protocol_names: List[str],
                  families: List[str], output_dir: str, epochs: Optional[int] = None) -> Dict:
    from pipeline import local_run

    output_dir = os.path.abspath(output_dir)
    base = config_lib.load_config(config_path, dataset_overrides)
    results = {"dataset": base.dataset.get("name"), "cutoffs": base.evaluation.cutoffs,
               "protocols": {}}
    for name in protocol_names:
        protocol = protocols_lib.get(name)
        results["protocols"][protocol.name] = {}
        for family in families:
            print(f"\n=== {protocol.name} ({protocol.description}), family {family} ===", flush=True)
            config = config_lib.load_config(config_path, {
                **dataset_overrides,
                **_overrides(protocol, family, base.dataset.get("name", "data"),
                             os.path.join(output_dir, "runs"), epochs)})
            started = time.monotonic()
            summary = local_run.run_pipeline(config)
            results["protocols"][protocol.name][family] = {
                "metrics": summary.evaluation["metrics"],
                "blessed": summary.evaluation["blessing"]["blessed"],
                "seconds": round(time.monotonic() - started, 1),
                "component_seconds": summary.component_seconds,
                "training_history": summary.training_history,
                "rmse": summary.ranking_rmse,
            }
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


def main(args: argparse.Namespace) -> int:
    dataset_overrides = {}
    if args.dataset:
        dataset_overrides["dataset"] = {"name": args.dataset}
        if args.data_dir:
            dataset_overrides["dataset"]["data_dir"] = args.data_dir
    results = run_benchmark(args.config, dataset_overrides,
                            [p.strip() for p in args.protocols.split(",") if p.strip()],
                            [f.strip() for f in args.families.split(",") if f.strip()],
                            args.output_dir, args.epochs)
    paths = report.write(results, os.path.abspath(args.output_dir))
    print("\n" + report.markdown_table(results))
    print("\nWrote " + ", ".join(paths.values()))
    return 0
