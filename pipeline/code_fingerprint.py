"""A hash of the Python source a component runs by module path, for TFX's cache.

Transform and the Trainers run our code by module path (it is installed, so
TFX builds no wheel of it). TFX reuses a cached execution when a component's
inputs and exec properties are unchanged, and a module path does not change
with the code behind it. So each of these components carries this fingerprint
in its `custom_config`: a rerun with unchanged code is cached, a change in any
file the module imports (directly or not, at the top or inside a function)
runs the component again.

Imports are read from the source with `ast`, nothing is imported, and only
imports within the module's own top-level package (`models`, which imports no
other package of ours) are followed.
"""
import ast
import hashlib
import os
from typing import List, Optional, Set

# The folder that holds our top-level packages: the checkout, or site-packages.
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CUSTOM_CONFIG_KEY = "code_fingerprint"


def _source_file(module: str) -> Optional[str]:
    """The file that defines `module` (a package's __init__.py), or None if not ours."""
    path = os.path.join(_ROOT, *module.split("."))
    for candidate in (os.path.join(path, "__init__.py"), path + ".py"):
        if os.path.isfile(candidate):
            return candidate
    return None


def _imported_modules(path: str) -> Set[str]:
    """Every absolute module name the file imports, and each `from X import name` as X.name."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def source_files(module: str) -> List[str]:
    """The files of `module`'s top-level package that importing it runs, sorted."""
    package = module.split(".")[0]
    found: Set[str] = set()
    pending = [module]
    while pending:
        parts = pending.pop().split(".")
        if parts[0] != package:
            continue
        # Importing a.b.c runs a/__init__.py and a/b/__init__.py first.
        for depth in range(1, len(parts) + 1):
            path = _source_file(".".join(parts[:depth]))
            if path is not None and path not in found:
                found.add(path)
                pending.extend(_imported_modules(path))
    return sorted(found)


def fingerprint(function_path: str) -> str:
    """The fingerprint of the module of `function_path` ("package.module.function")."""
    module = function_path.rsplit(".", 1)[0]
    if _source_file(module) is None:
        raise ValueError(f"{function_path!r}: no module {module!r} in {_ROOT}")
    digest = hashlib.sha256()
    for path in source_files(module):
        digest.update(os.path.relpath(path, _ROOT).encode())
        with open(path, "rb") as f:
            digest.update(f.read())
    return digest.hexdigest()
