"""Resident memory of this process and its descendants, sampled in a thread."""
import os
import threading
from typing import Dict, List, Optional

_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")


def _parents() -> Dict[int, int]:
    """pid -> parent pid of every process, from /proc/<pid>/stat (Linux)."""
    parents = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                # The command name (field 2) may hold spaces; the parent follows its ")".
                parents[int(name)] = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):  # the process ended meanwhile
            pass
    return parents


def _rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * _PAGE_BYTES
    except (OSError, IndexError, ValueError):
        return 0


def tree_rss_bytes(root: int) -> int:
    """RSS of `root` and every descendant (Beam worker processes, for one)."""
    children: Dict[int, List[int]] = {}
    for pid, parent in _parents().items():
        children.setdefault(parent, []).append(pid)
    total, pending = 0, [root]
    while pending:
        pid = pending.pop()
        total += _rss_bytes(pid)
        pending.extend(children.get(pid, ()))
    return total


class PeakSampler:
    """Samples the process tree's RSS every `interval` seconds; keeps the peak of the
    whole run and of the current phase (start_phase .. end_phase)."""

    def __init__(self, interval: float = 0.5, root: Optional[int] = None):
        self.interval = interval
        self.root = root or os.getpid()
        self.peak = 0
        self._phase_peak: Optional[int] = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)

    def start(self) -> "PeakSampler":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    def start_phase(self) -> None:
        self._phase_peak = 0
        self.sample()

    def end_phase(self) -> int:
        """The phase's peak RSS in bytes."""
        self.sample()
        peak, self._phase_peak = self._phase_peak or 0, None
        return peak

    def sample(self) -> None:
        rss = tree_rss_bytes(self.root)
        self.peak = max(self.peak, rss)
        if self._phase_peak is not None:
            self._phase_peak = max(self._phase_peak, rss)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()
