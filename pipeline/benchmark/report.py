"""The benchmark's results table (Markdown and JSON) and plots (PNG)."""
import json
import os
from typing import Dict, List

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

CURVE_METRICS = ("recall", "ndcg", "precision")


def _rows(results: Dict) -> List[Dict]:
    """One row per (protocol, model): the family models and, once per protocol, the baselines."""
    rows = []
    for protocol, runs in results["protocols"].items():
        baselines_done = False
        for family, run in runs.items():
            for model, metrics in run["metrics"].items():
                if model == "model":
                    rows.append({"protocol": protocol, "model": family, **_flat(metrics),
                                 "rmse": run.get("rmse"), "seconds": run.get("seconds")})
                elif not baselines_done:
                    rows.append({"protocol": protocol, "model": model, **_flat(metrics)})
            baselines_done = True
    return rows


def _flat(metrics: Dict) -> Dict:
    flat = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
    cold = metrics.get("cold")
    if cold:
        flat.update({k: v for k, v in cold.items() if k.startswith("cold_")})
    return flat


def _cell(column: str, value) -> str:
    if value is None:
        return "–"
    if column == "seconds":
        return f"{value:.0f}"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def markdown_table(results: Dict, columns=("ndcg@10", "recall@10", "precision@10", "map@10",
                                           "cold_recall@20", "rmse", "seconds")) -> str:
    lines = ["| protocol | model | " + " | ".join(columns) + " |",
             "| --- | --- | " + " | ".join("---:" for _ in columns) + " |"]
    for row in _rows(results):
        lines.append(f"| {row['protocol']} | {row['model']} | "
                     + " | ".join(_cell(c, row.get(c)) for c in columns) + " |")
    return "\n".join(lines + _evaluation_notes(results))


def _evaluation_notes(results: Dict) -> List[str]:
    """Under the table, once per protocol: a user sample, and each skipped baseline."""
    notes = []
    for protocol, runs in results["protocols"].items():
        first = next(iter(runs.values()), {})
        sample = first.get("user_sample")
        if sample:
            notes.append(f"{protocol}: metrics on a seeded sample of {sample['users']} of the "
                         f"{sample['of']} users (seed {sample['seed']})")
        for name, reason in first.get("skipped_baselines", {}).items():
            notes.append(f"{protocol}: {name} {reason}")
    return [""] + notes if notes else []


def _curves(ax, runs: Dict, metric: str, cutoffs: List[int]) -> None:
    first = next(iter(runs.values()))
    series = {family: run["metrics"]["model"] for family, run in runs.items()}
    series.update({name: m for name, m in first["metrics"].items() if name != "model"})
    for name, metrics in series.items():
        values = [metrics.get(f"{metric}@{k}") for k in cutoffs]
        if None not in values:
            ax.plot(cutoffs, values, marker="o", label=name,
                    linestyle="-" if name in runs else "--")
    ax.set_xlabel("k")
    ax.set_title(f"{metric}@k")
    ax.grid(alpha=0.3)


def plot_metric_curves(results: Dict, path: str) -> None:
    protocols = list(results["protocols"])
    cutoffs = results["cutoffs"]
    fig, axes = plt.subplots(len(protocols), len(CURVE_METRICS),
                             figsize=(4.2 * len(CURVE_METRICS), 3.4 * len(protocols)), squeeze=False)
    for row, protocol in enumerate(protocols):
        for column, metric in enumerate(CURVE_METRICS):
            _curves(axes[row][column], results["protocols"][protocol], metric, cutoffs)
            axes[row][column].set_title(f"{protocol}: {metric}@k")
    axes[0][-1].legend(fontsize=8, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_slices(results: Dict, path: str, metric: str = "ndcg@10") -> None:
    panels = [(p, kind) for p in results["protocols"] for kind in ("user_activity", "item_popularity")]
    fig, axes = plt.subplots(len(panels), 1, figsize=(9, 3.2 * len(panels)), squeeze=False)
    for ax, (protocol, kind) in zip(axes[:, 0], panels):
        runs = results["protocols"][protocol]
        first = next(iter(runs.values()))
        series = {family: run["metrics"]["model"] for family, run in runs.items()}
        series.update({n: m for n, m in first["metrics"].items() if n != "model"})
        labels = list(first["metrics"]["model"]["slices"][kind])
        width = 0.8 / len(series)
        for i, (name, metrics) in enumerate(series.items()):
            values = [metrics["slices"][kind].get(label, {}).get(metric, 0.0) for label in labels]
            ax.bar([x + i * width for x in range(len(labels))], values, width, label=name)
        ax.set_xticks([x + 0.4 - width / 2 for x in range(len(labels))], labels)
        ax.set_title(f"{protocol}: {metric} by {kind.replace('_', ' ')}")
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].legend(fontsize=8, ncol=4)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_training_loss(results: Dict, path: str) -> None:
    """Per family: the training loss of the model selection and of the refit, and the
    validation NDCG@10 that chose the number of epochs."""
    histories = [(f"{p} {family}", run["training_history"])
                 for p, runs in results["protocols"].items() for family, run in runs.items()
                 if run.get("training_history")]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for label, history in histories:
        for key, style in (("selection_loss", "--"), ("loss", "-")):
            if history.get(key):
                axes[0].plot(range(1, len(history[key]) + 1), history[key], style,
                             label=f"{label} ({'selection' if style == '--' else 'final fit'})")
        if history.get("validation_ndcg@10"):
            axes[1].plot(history["validation_epochs"], history["validation_ndcg@10"], "o-",
                         label=label)
    for ax, title in zip(axes, ("training loss", "validation NDCG@10 (model selection)")):
        ax.set_xlabel("epoch")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    for ax in axes:
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(results: Dict, output_dir: str) -> Dict[str, str]:
    """Writes results.json, results.md and the plots; returns their paths."""
    os.makedirs(output_dir, exist_ok=True)
    paths = {name: os.path.join(output_dir, name) for name in (
        "results.json", "results.md", "metric_curves.png", "slices.png", "training_loss.png")}
    with open(paths["results.json"], "w") as f:
        json.dump(results, f, indent=2, sort_keys=True)
    with open(paths["results.md"], "w") as f:
        f.write(f"# Benchmark: {results['dataset']}\n\n{markdown_table(results)}\n")
    plot_metric_curves(results, paths["metric_curves.png"])
    plot_slices(results, paths["slices.png"])
    plot_training_loss(results, paths["training_loss.png"])
    return paths
