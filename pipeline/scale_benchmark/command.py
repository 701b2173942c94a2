"""`unirec scale-benchmark`: the default pipeline on synthetic catalogues of MovieLens
shapes (data_contract/synthetic.py SHAPES), one size after another, each in its own
process so that its peak memory is its own. Writes scale.csv, scale.md and scale.png.
"""
import argparse
import json
import os
import subprocess
import sys
from typing import Dict, Optional

from data_contract import synthetic
from pipeline.scale_benchmark import report

_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_size(shape: str, scale: float, output_dir: str, config_path: Optional[str],
             overrides: Dict) -> Dict:
    """Runs one size in a child process; its measurements, also when it failed."""
    run_dir = os.path.join(output_dir, "runs", report.run_name(shape, scale))
    os.makedirs(run_dir, exist_ok=True)
    result_path = os.path.join(run_dir, "result.json")
    if os.path.exists(result_path):
        os.remove(result_path)
    command = [sys.executable, "-m", "pipeline.scale_benchmark.one_run", "--shape", shape,
               "--scale", repr(scale), "--output-dir", run_dir, "--result", result_path,
               "--overrides", json.dumps(overrides)]
    if config_path:
        command += ["--config", os.path.abspath(config_path)]
    # The child imports this checkout's packages, wherever the command is run from.
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [_REPO_ROOT] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    print(f"\n=== {report.run_name(shape, scale)} ===", flush=True)
    exit_code = subprocess.run(command, env=environment).returncode
    if not os.path.exists(result_path):
        return {"shape": shape, "scale": scale, "status": f"failed before the pipeline started "
                f"(exit {exit_code})", "components": []}
    with open(result_path) as f:
        result = json.load(f)
    if exit_code != 0:
        result["status"] = f"failed (exit {exit_code}) after {len(result['components'])} components"
    return result


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--shapes", default="ml-1m,ml-10m",
                        help=f"comma-separated, smallest first: {', '.join(synthetic.SHAPES)}")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="shrink every shape (users and interactions x scale, items x "
                             "sqrt(scale)): for a quick look")
    parser.add_argument("--config", help="YAML config for everything but the dataset "
                                         "(default: the default pipeline)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set retrieval.epochs=3")
    parser.add_argument("--output-dir", default="scale_output")


def main(args: argparse.Namespace) -> int:
    from pipeline import cli

    shapes = [s.strip() for s in args.shapes.split(",") if s.strip()]
    try:
        for shape in shapes:
            synthetic.shape_sizes(shape, args.scale)
        overrides = cli.set_overrides(args.set)
    except ValueError as e:
        print(f"unirec scale-benchmark: {e}", file=sys.stderr)
        return 2
    output_dir = os.path.abspath(args.output_dir)
    results = [run_size(shape, args.scale, output_dir, args.config, overrides)
               for shape in shapes]
    paths = report.write(results, output_dir)
    print("\n" + report.markdown(results))
    print("\nWrote " + ", ".join(paths))
    return 0 if all(r["status"] == "finished" for r in results) else 1
