"""The run lock: one holder per metadata store, released however its holder ends."""
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline import run_lock

ENV = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))


def test_a_second_holder_is_refused_with_the_first_ones_pid(tmp_path):
    store = tmp_path / "metadata" / "p" / "metadata.db"
    with run_lock.hold(str(store)):
        child = subprocess.run(
            [sys.executable, "-c", f"from pipeline import run_lock\nwith run_lock.hold({str(store)!r}): pass"],
            capture_output=True, text=True, env=ENV)
        assert child.returncode != 0
        assert f"pid {os.getpid()}" in child.stderr and "another pipeline run" in child.stderr
    with run_lock.hold(str(store)):  # released on exit
        pass


def test_a_killed_holder_releases_the_lock(tmp_path):
    store = tmp_path / "metadata.db"
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import time\nfrom pipeline import run_lock\n"
                               f"with run_lock.hold({str(store)!r}):\n"
                               "    print('held', flush=True)\n    time.sleep(60)"],
        stdout=subprocess.PIPE, text=True, env=ENV)
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(run_lock.RunLockedError):
        with run_lock.hold(str(store)):
            pass
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    with run_lock.hold(str(store)):
        pass


def test_the_tfx_cli_runner_takes_the_same_lock(tmp_path, monkeypatch):
    from pipeline import config as config_lib, local_runner

    config_path = tmp_path / "config.yaml"
    config_path.write_text(f"output_dir: {tmp_path / 'out'}\n")
    monkeypatch.setenv("UNIREC_CONFIG", str(config_path))
    with run_lock.hold(config_lib.load_config(str(config_path)).metadata_path):
        with pytest.raises(run_lock.RunLockedError):
            local_runner.main()
