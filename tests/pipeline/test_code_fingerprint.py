"""The code fingerprint follows what a module imports, so that the cache reruns on a change."""
import os
import textwrap

import pytest

from pipeline import code_fingerprint
from pipeline.pipeline import PREPROCESSING_FN


def _write(root, files):
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


@pytest.fixture
def package(tmp_path, monkeypatch):
    monkeypatch.setattr(code_fingerprint, "_ROOT", str(tmp_path))
    _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/trainer.py": """
            from pkg import layers
            from pkg.sub.model import Model

            def run_fn():
                from pkg import lazy  # imported where it is used
        """,
        "pkg/layers.py": "import numpy\n",
        "pkg/lazy.py": "",
        "pkg/sub/__init__.py": "",
        "pkg/sub/model.py": "import pkg.layers\nclass Model: pass\n",
        "pkg/unused.py": "",
        "other/__init__.py": "",
    })
    return tmp_path


def test_follows_direct_nested_and_lazy_imports_of_the_package(package):
    files = code_fingerprint.source_files("pkg.trainer")
    assert [os.path.relpath(path, package) for path in files] == [
        "pkg/__init__.py", "pkg/layers.py", "pkg/lazy.py", "pkg/sub/__init__.py",
        "pkg/sub/model.py", "pkg/trainer.py"]


def test_changes_with_imported_code_only(package):
    before = code_fingerprint.fingerprint("pkg.trainer.run_fn")
    _write(package, {"pkg/unused.py": "x = 1\n", "other/__init__.py": "y = 2\n"})
    assert code_fingerprint.fingerprint("pkg.trainer.run_fn") == before
    _write(package, {"pkg/lazy.py": "z = 3\n"})
    assert code_fingerprint.fingerprint("pkg.trainer.run_fn") != before


def test_unknown_module_is_an_error(package):
    with pytest.raises(ValueError, match="no module 'pkg.missing'"):
        code_fingerprint.fingerprint("pkg.missing.run_fn")


def test_the_transform_fingerprint_covers_preprocessing_and_feature_names():
    files = code_fingerprint.source_files(PREPROCESSING_FN.rsplit(".", 1)[0])
    assert [f.split("models/", 1)[1] for f in files] == [
        "__init__.py", "features.py", "transform/__init__.py", "transform/preprocessing.py"]
