"""A content hash of a dataset's source files, for the pipeline cache."""
import hashlib
import os
from typing import Any, Dict, Iterable, Iterator

_TABLES = ("interactions", "items", "users")


def _source_files(dataset_spec: Dict[str, Any]) -> Iterator[str]:
    data_dir = dataset_spec.get("data_dir")
    if data_dir and os.path.isdir(data_dir):
        for name in sorted(os.listdir(data_dir)):
            path = os.path.join(data_dir, name)
            if os.path.isfile(path):
                yield path
    for table in _TABLES:
        table_spec = dataset_spec.get(table)
        if isinstance(table_spec, dict) and table_spec.get("path"):
            yield table_spec["path"]


def source_fingerprint(dataset_spec: Dict[str, Any], extra_files: Iterable[str] = ()) -> str:
    """Hashes the files a dataset spec (and a split) reads; "" when none (synthetic)."""
    digest = hashlib.sha256()
    found = False
    for path in [*_source_files(dataset_spec), *extra_files]:
        if not os.path.isfile(path):
            continue  # The adapter reports missing files with a clearer message.
        found = True
        digest.update(os.path.basename(path).encode())
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest() if found else ""
