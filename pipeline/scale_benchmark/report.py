"""The scale benchmark's table (scale.csv, scale.md) and plot (scale.png)."""
import csv
import os
from typing import Dict, List

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

GB = 1e9
CSV_COLUMNS = ("run", "num_users", "num_items", "num_interactions", "status", "component",
               "seconds", "peak_rss_gb", "interactions_per_s")


def run_name(shape: str, scale: float) -> str:
    return shape if scale == 1 else f"{shape}-x{scale:g}"


def _per_s(result: Dict, seconds: float) -> float:
    return round(result["num_interactions"] / seconds) if seconds and "num_interactions" in result else None


def csv_rows(results: List[Dict]) -> List[Dict]:
    """One row per (run, component), then the run's total."""
    rows = []
    for result in results:
        common = {"run": run_name(result["shape"], result["scale"]), "status": result["status"],
                  **{k: result.get(k) for k in ("num_users", "num_items", "num_interactions")}}
        for component in result["components"]:
            rows.append({**common, "component": component["component"],
                         "seconds": component["seconds"],
                         "peak_rss_gb": round(component["peak_rss_bytes"] / GB, 2),
                         "interactions_per_s": _per_s(result, component["seconds"])})
        if "wall_seconds" in result:
            rows.append({**common, "component": "total", "seconds": result["wall_seconds"],
                         "peak_rss_gb": round(result["peak_rss_bytes"] / GB, 2),
                         # A stopped run's rate would mix its finished and unfinished parts.
                         "interactions_per_s": (_per_s(result, result["wall_seconds"])
                                                if result["status"] == "finished" else None)})
    return rows


def _components(results: List[Dict]) -> List[str]:
    names = []
    for result in results:
        names += [c["component"] for c in result["components"] if c["component"] not in names]
    return names


def _cell(value, fmt: str) -> str:
    return "–" if value is None else format(value, fmt)


def markdown(results: List[Dict]) -> str:
    """Wall seconds and peak RSS per component and run; each run's wall time over the
    previous run's; then each run's NDCG@10 beside the baselines."""
    names = [run_name(r["shape"], r["scale"]) for r in results]
    by_run = [{c["component"]: c for c in r["components"]} for r in results]
    header = ["component"]
    for i, name in enumerate(names):
        header += [f"{name} s", f"{name} peak RSS GB"]
        if i:
            header.append(f"s {name} / {names[i - 1]}")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]

    def row(label: str, measured: List[Dict]) -> str:
        cells = [label]
        for i, value in enumerate(measured):
            cells += [_cell(value.get("seconds"), ".1f"),
                      _cell(value["peak_rss_bytes"] / GB if "peak_rss_bytes" in value else None,
                            ".2f")]
            if i:
                before, now = measured[i - 1].get("seconds"), value.get("seconds")
                whole = not (measured[i - 1].get("partial") or value.get("partial"))
                cells.append(_cell(now / before if before and now is not None and whole else None,
                                   ".1f"))
        return "| " + " | ".join(cells) + " |"

    for component in _components(results):
        lines.append(row(component, [run.get(component, {}) for run in by_run]))
    lines.append(row("**total**", [{"seconds": r.get("wall_seconds"),
                                    "partial": r["status"] != "finished",
                                    **({"peak_rss_bytes": r["peak_rss_bytes"]}
                                       if "peak_rss_bytes" in r else {})} for r in results]))
    lines.append("")
    for name, result in zip(names, results):
        sizes = (f"{result['num_users']:,} users, {result['num_items']:,} items, "
                 f"{result['num_interactions']:,} interactions" if "num_users" in result else "")
        speed = (_per_s(result, result.get("wall_seconds")) if result["status"] == "finished"
                 else None)
        lines.append(f"- {name}: {sizes}; {result['status']}"
                     + (f"; {speed:,} interactions/s over the whole run" if speed else ""))
    quality = [(name, r["ndcg@10"]) for name, r in zip(names, results) if r.get("ndcg@10")]
    if quality:
        models = list(dict.fromkeys(m for _, scores in quality for m in scores))
        lines += ["", "| NDCG@10 | " + " | ".join(models) + " |",
                  "|" + "---|" * (len(models) + 1)]
        for name, scores in quality:
            lines.append(f"| {name} | " + " | ".join(_cell(scores.get(m), ".4f")
                                                     for m in models) + " |")
        for name, result in zip(names, results):
            for baseline, reason in (result.get("skipped_baselines") or {}).items():
                lines.append(f"\n{name}: {baseline} {reason}")  # the reason says "skipped: ..."
    return "\n".join(lines)


def plot(results: List[Dict], path: str) -> None:
    """Seconds and peak RSS per component, one bar per run."""
    components = _components(results)
    figure, (time_axis, memory_axis) = plt.subplots(1, 2, figsize=(13, 0.45 * len(components) + 2),
                                                    sharey=True)
    height = 0.8 / max(1, len(results))
    for i, result in enumerate(results):
        measured = {c["component"]: c for c in result["components"]}
        positions = [j + i * height for j in range(len(components))]
        label = run_name(result["shape"], result["scale"])
        time_axis.barh(positions, [measured.get(c, {}).get("seconds", 0) for c in components],
                       height, label=label)
        memory_axis.barh(positions, [measured.get(c, {}).get("peak_rss_bytes", 0) / GB
                                     for c in components], height, label=label)
    time_axis.set_yticks([j + 0.4 - height / 2 for j in range(len(components))], components)
    time_axis.invert_yaxis()
    time_axis.set_xscale("log")
    time_axis.set_xlabel("wall seconds (log)")
    memory_axis.set_xlabel("peak resident memory, GB (process and children)")
    time_axis.legend()
    figure.suptitle("unirec scale-benchmark: the default pipeline per synthetic shape")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def write(results: List[Dict], output_dir: str) -> List[str]:
    os.makedirs(output_dir, exist_ok=True)
    paths = [os.path.join(output_dir, name) for name in ("scale.csv", "scale.md", "scale.png")]
    with open(paths[0], "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(csv_rows(results))
    with open(paths[1], "w") as f:
        f.write(markdown(results) + "\n")
    plot(results, paths[2])
    return paths
