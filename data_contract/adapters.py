"""Dataset name -> adapter: the one entry point the pipeline uses to load data."""
import os
from typing import Any, Callable, Dict, Mapping, Optional

from data_contract import contract, csv_files, movielens, synthetic
from data_contract.contract import Dataset

_SYNTHETIC_KEYS = ("num_users", "num_items", "num_interactions", "seed", "shape", "scale")


def _synthetic(options: Dict[str, Any], base_dir: str, on_bad_row: str) -> Dataset:
    # Generated data has no bad rows, so on_bad_row does not apply.
    _check_keys("synthetic", options, _SYNTHETIC_KEYS)
    sizes = sorted(set(options) & {"num_users", "num_items", "num_interactions"})
    if "shape" in options and sizes:
        raise ValueError(f"dataset 'synthetic': shape {options['shape']!r} sets the sizes; "
                         f"drop {sizes} or the shape")
    return synthetic.generate(**options)


def _movielens_100k(options: Dict[str, Any], base_dir: str, on_bad_row: str) -> Dataset:
    _check_keys(movielens.NAME, options, ("data_dir",))
    data_dir = options.get("data_dir")
    if data_dir is not None:
        data_dir = os.path.join(base_dir, os.path.expanduser(data_dir))
    return movielens.load_100k(data_dir, on_bad_row=on_bad_row)


def _csv(options: Dict[str, Any], base_dir: str, on_bad_row: str) -> Dataset:
    return csv_files.load_csv(options, base_dir=base_dir, on_bad_row=on_bad_row)


_LOADERS: Dict[str, Callable[[Dict[str, Any], str, str], Dataset]] = {
    synthetic.NAME: _synthetic,
    movielens.NAME: _movielens_100k,
    "csv": _csv,
}
KNOWN_DATASETS = tuple(_LOADERS)


def load_dataset(spec: Mapping[str, Any], base_dir: str = ".") -> Dataset:
    """Loads the dataset that spec["name"] names, with the rest of `spec` as its options.

    `on_bad_row` ("error" or "skip") applies to file-based datasets; relative paths
    are resolved against `base_dir`, the folder of the config file.
    """
    options = dict(spec)
    name = options.pop("name", None)
    on_bad_row = options.pop("on_bad_row", "error")
    contract.check_on_bad_row(on_bad_row)
    if name not in _LOADERS:
        raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(KNOWN_DATASETS)}")
    return _LOADERS[name](options, base_dir, on_bad_row)


def _check_keys(name: str, options: Mapping[str, Any], allowed) -> None:
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(f"dataset {name!r}: unknown options {unknown}; allowed: {list(allowed)}")


def estimated_interactions(spec: Mapping[str, Any]) -> Optional[int]:
    """About how many interactions the dataset holds, without loading it: the synthetic
    sizes, MovieLens 100K's, or a local CSV file's lines. None for a file in a bucket."""
    name = spec.get("name")
    if name == synthetic.NAME:
        if "shape" in spec:
            return synthetic.shape_sizes(spec["shape"], spec.get("scale", 1.0)).num_interactions
        return spec.get("num_interactions", synthetic.DEFAULT_NUM_INTERACTIONS)
    if name == movielens.NAME:
        return movielens.NUM_INTERACTIONS_100K
    if name == "csv":
        path = (spec.get("interactions") or {}).get("path")
        return csv_files.count_lines(path) if path and os.path.isfile(path) else None
    raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(KNOWN_DATASETS)}")


def declared_content(spec: Mapping[str, Any]) -> Dict[str, bool]:
    """Which optional parts of the contract a dataset has, from its spec alone (no file
    is read): {"item_text": ..., "item_tags": ..., "user_fields": ...}. Lets a config
    that asks for what the data cannot give fail before anything runs."""
    name = spec.get("name")
    if name in (synthetic.NAME, movielens.NAME):
        return {"item_text": True, "item_tags": True, "user_fields": True}
    if name == "csv":
        items, users = spec.get("items") or {}, spec.get("users") or {}
        return {"item_text": bool(items.get("text_fields")),
                "item_tags": bool(items.get("tag_fields")),
                "user_fields": bool(users.get("categorical_fields")
                                    or users.get("numeric_fields"))}
    raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(KNOWN_DATASETS)}")
