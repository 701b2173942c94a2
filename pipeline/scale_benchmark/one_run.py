"""One size of the scale benchmark, in its own process: `python -m
pipeline.scale_benchmark.one_run ...` (the `unirec scale-benchmark` command starts it).

Runs the pipeline on the synthetic catalogue of one shape and writes, after every
component, a JSON file of what it measured so far: a run that is stopped or runs
out of memory still tells how far it got.
"""
import argparse
import json
import os
import resource
import sys
import time
from typing import Dict, Optional

from data_contract import synthetic
from pipeline import config as config_lib
from pipeline import progress
from pipeline.scale_benchmark import memory


class MeasuredProgress(progress.ComponentProgress):
    """ComponentProgress that also records each component's peak RSS and saves the rows."""

    def __init__(self, sampler: memory.PeakSampler, save_rows):
        super().__init__()
        self.sampler = sampler
        self.save_rows = save_rows

    def on_start(self) -> None:
        self.sampler.start_phase()

    def on_finish(self, row: Dict) -> None:
        row["peak_rss_bytes"] = self.sampler.end_phase()
        self.save_rows()


def pipeline_overrides(shape: str, scale: float, output_dir: str, extra: Dict) -> Dict:
    return {"pipeline_name": f"scale-{shape}", "output_dir": output_dir, "enable_cache": False,
            "dataset": {"name": synthetic.NAME, "shape": shape, "scale": scale}, **extra}


def measure(config: config_lib.PipelineConfig, result_path: str, header: Dict) -> Dict:
    sampler = memory.PeakSampler().start()
    result = {**header, "status": "running", "components": []}
    started = time.monotonic()

    def save() -> None:
        result["components"] = [
            {"component": row["component"], "seconds": round(row["seconds"], 1),
             "peak_rss_bytes": row.get("peak_rss_bytes", 0)} for row in tracker.rows]
        result["wall_seconds"] = round(time.monotonic() - started, 1)
        result["peak_rss_bytes"] = max(sampler.peak,
                                       resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
        _write_json(result_path, result)

    tracker = MeasuredProgress(sampler, save)
    save()
    summary = progress.run_pipeline(config, tracker)
    sampler.stop()
    result["status"] = "finished"
    evaluation = summary.evaluation or {}
    result["ndcg@10"] = {name: metrics["ndcg@10"]
                         for name, metrics in evaluation.get("metrics", {}).items()}
    result["skipped_baselines"] = evaluation.get("skipped_baselines", {})
    result["evaluated_users"] = (evaluation.get("user_sample") or {}).get("users",
                                                                         evaluation.get("num_users"))
    save()
    return result


def _write_json(path: str, value: Dict) -> None:
    temporary = path + ".tmp"
    with open(temporary, "w") as f:
        json.dump(value, f, indent=1)
    os.replace(temporary, path)


def main(argv: Optional[list] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config")
    parser.add_argument("--shape", required=True, choices=sorted(synthetic.SHAPES))
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--output-dir", required=True)
    parser.add_argument("--result", required=True, help="the JSON file to write")
    parser.add_argument("--overrides", default="{}", help="config overrides, as JSON")
    args = parser.parse_args(argv)
    sizes = synthetic.shape_sizes(args.shape, args.scale)
    config = config_lib.load_config(args.config, pipeline_overrides(
        args.shape, args.scale, args.output_dir, json.loads(args.overrides)))
    header = {"shape": args.shape, "scale": args.scale, "num_users": sizes.num_users,
              "num_items": sizes.num_items, "num_interactions": sizes.num_interactions}
    measure(config, args.result, header)
    return 0


if __name__ == "__main__":
    sys.exit(main())
