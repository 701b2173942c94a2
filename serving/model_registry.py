"""Which model versions are served: base-path polling, version policy, labels and safe swaps.

Like TF Serving's ServerCore with a FileSystemStoragePathSource and the
availability-preserving policy: numeric sub-directories of a model's base path are
versions; new aspired versions load before old ones unload, and a version that fails
to load (its error shown by GetModelStatus) leaves the last good one serving; a request
leases the version it resolved, and a version leaving service is released only once its
last lease ends, so in-flight requests never fail because of a swap.
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import re
import threading
from typing import Callable, Iterator

import grpc
import tensorflow as tf
from tensorflow_serving.apis import model_pb2
from tensorflow_serving.config import model_server_config_pb2

from serving import errors
from serving.servable import SavedModelServable, return_freed_memory

log = logging.getLogger(__name__)

# TF Serving retries a failed load --max_num_load_retries (5) times; we retry on later polls.
MAX_LOAD_ATTEMPTS = 6
_VERSION_DIR = re.compile(r"^\d+$")

Loader = Callable[[str, int, str], SavedModelServable]


@dataclasses.dataclass(frozen=True)
class VersionStatus:
    """A version's ModelVersionStatus: state name (AVAILABLE, END, ...) and load error if any."""

    state: str
    error_code: grpc.StatusCode = grpc.StatusCode.OK
    error_message: str = ""


@dataclasses.dataclass
class _ServedVersion:
    servable: SavedModelServable
    in_flight: int = 0
    retiring: bool = False


@dataclasses.dataclass
class _Model:
    config: model_server_config_pb2.ModelConfig
    served: dict[int, _ServedVersion] = dataclasses.field(default_factory=dict)
    states: dict[int, VersionStatus] = dataclasses.field(default_factory=dict)
    load_attempts: dict[int, int] = dataclasses.field(default_factory=dict)
    last_warning: str = ""


def versions_on_disk(base_path: str) -> list[int]:
    """Numeric child directories of a base path (any tf.io.gfile file system).

    A missing base path raises FileNotFoundError rather than reading as "no versions",
    so a transiently unreachable path never unloads what is being served.
    """
    if not tf.io.gfile.isdir(base_path):
        raise FileNotFoundError(f"Could not find base path {base_path}")
    versions = []
    for child in tf.io.gfile.listdir(base_path):
        child = child.rstrip("/")
        if _VERSION_DIR.match(child) and tf.io.gfile.isdir(f"{base_path.rstrip('/')}/{child}"):
            versions.append(int(child))
    return sorted(versions)


def aspired_versions(config: model_server_config_pb2.ModelConfig, on_disk: list[int]) -> set[int]:
    """Applies model_version_policy (latest{num_versions} by default, all, specific)."""
    policy = config.model_version_policy
    choice = policy.WhichOneof("policy_choice")
    if choice == "all":
        return set(on_disk)
    if choice == "specific":
        return set(policy.specific.versions).intersection(on_disk)
    num_versions = max(policy.latest.num_versions, 1) if choice == "latest" else 1
    return set(on_disk[-num_versions:])


class ModelRegistry:
    """Serves the versions of each configured model and hands out leases on them."""

    def __init__(self, config: model_server_config_pb2.ModelServerConfig, loader: Loader = SavedModelServable):
        self._loader = loader
        self._lock = threading.Lock()
        self._models = {model.name: _Model(config=model) for model in config.model_config_list.config}
        self._poll_thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._unloaded_since_trim = False

    # ---- requests -------------------------------------------------------------

    @contextlib.contextmanager
    def lease(self, spec: model_pb2.ModelSpec) -> Iterator[SavedModelServable]:
        """Resolves a ModelSpec (latest, version or label) and pins that version until exit."""
        with self._lock:
            served = self._resolve(spec)
            served.in_flight += 1
        try:
            yield served.servable
        finally:
            with self._lock:
                served.in_flight -= 1
                finished = served.retiring and served.in_flight == 0
            if finished:
                self._finish_unload(served)

    def _resolve(self, spec: model_pb2.ModelSpec) -> _ServedVersion:
        if not spec.name:
            raise errors.invalid_argument("ModelSpec has no name specified.")
        model = self._models.get(spec.name)
        choice = spec.WhichOneof("version_choice")
        if choice == "version_label":
            version = model.config.version_labels.get(spec.version_label) if model else None
            if version is None:
                raise errors.invalid_argument(f"Unrecognized servable version label: {spec.version_label}")
        elif choice == "version":
            version = spec.version.value
        else:
            if model and model.served:
                return model.served[max(model.served)]
            raise errors.not_found(f"Servable not found for request: Latest({spec.name})")
        served = model.served.get(version) if model else None
        if served is None:
            raise errors.not_found(f"Servable not found for request: Specific({spec.name}, {version})")
        return served

    def version_statuses(self, name: str, version: int | None = None) -> list[tuple[int, VersionStatus]]:
        """GetModelStatus: one version, or every version this server has seen, newest first."""
        with self._lock:
            model = self._models.get(name)
            states = dict(model.states) if model else {}
        if version is not None:
            if version not in states:
                raise errors.not_found(f"Could not find version {version} of model {name}")
            return [(version, states[version])]
        if not states:
            raise errors.not_found(f"Could not find any versions of model {name}")
        return sorted(states.items(), reverse=True)

    # ---- loading and unloading -------------------------------------------------

    def poll_once(self) -> None:
        """Brings every model's served versions in line with its base path and policy."""
        for model in list(self._models.values()):
            try:
                on_disk = versions_on_disk(model.config.base_path)
            except (FileNotFoundError, tf.errors.OpError) as exc:
                self._warn_once(model, f"Servable {model.config.name}: {exc}")
                continue
            aspired = aspired_versions(model.config, on_disk)
            if not aspired:
                self._warn_once(model, f"No versions of servable {model.config.name} found under base path "
                                       f"{model.config.base_path}")
            else:
                model.last_warning = ""
            for version in sorted(aspired.difference(model.served)):
                if model.load_attempts.get(version, 0) < MAX_LOAD_ATTEMPTS:
                    self._load(model, version)
            for version in sorted(self._retiring(model, aspired)):
                self._unload(model, version)

    @staticmethod
    def _retiring(model: _Model, aspired: set[int]) -> set[int]:
        """Served versions no longer aspired, except that while no aspired version serves (it failed to load
        or is still loading) the newest served one stays: a bad push must not take the model down. An empty
        base path still unloads everything, as in TF Serving."""
        retiring = set(model.served).difference(aspired)
        if aspired and retiring and not aspired.intersection(model.served):
            retiring.discard(max(retiring))
        return retiring

    def _warn_once(self, model: _Model, message: str) -> None:
        if message != model.last_warning:
            log.warning(message)
            model.last_warning = message

    def _load(self, model: _Model, version: int) -> None:
        name = model.config.name
        path = f"{model.config.base_path.rstrip('/')}/{version}"
        model.load_attempts[version] = model.load_attempts.get(version, 0) + 1
        self._set_state(model, version, VersionStatus("LOADING"))
        log.info("Loading servable: {name: %s version: %d} from %s", name, version, path)
        try:
            servable = self._loader(name, version, path)
        except Exception as exc:  # any load failure marks the version END with its error
            code = exc.code if isinstance(exc, errors.ServingError) else grpc.StatusCode.UNKNOWN
            message = exc.message if isinstance(exc, errors.ServingError) else f"{type(exc).__name__}: {exc}"
            log.error("Loading servable {name: %s version: %d} failed: %s", name, version, message)
            self._set_state(model, version, VersionStatus("END", code, message))
            return
        with self._lock:
            model.served[version] = _ServedVersion(servable)
            model.states[version] = VersionStatus("AVAILABLE")
            model.load_attempts.pop(version, None)
        log.info("Successfully loaded servable version {name: %s version: %d}", name, version)

    def _unload(self, model: _Model, version: int) -> None:
        with self._lock:
            served = model.served.pop(version)
            served.retiring = True
            model.states[version] = VersionStatus("UNLOADING")
            idle = served.in_flight == 0
        log.info("Unloading servable version {name: %s version: %d}", model.config.name, version)
        if idle:
            self._finish_unload(served)

    def _finish_unload(self, served: _ServedVersion) -> None:
        servable = served.servable
        servable.release()
        self._unloaded_since_trim = True
        model = self._models[servable.name]
        with self._lock:
            if model.states.get(servable.version) == VersionStatus("UNLOADING"):
                model.states[servable.version] = VersionStatus("END")
        log.info("Done unloading servable version {name: %s version: %d}", servable.name, servable.version)

    def _set_state(self, model: _Model, version: int, status: VersionStatus) -> None:
        with self._lock:
            model.states[version] = status

    # ---- lifecycle -------------------------------------------------------------

    def load_until_available(self, poll_wait_seconds: float) -> None:
        """Startup: polls until every model serves a version, like TF Serving's initial load.

        Raises ServingError if a version fails to load at startup.
        """
        while not self._stop.is_set():
            self.poll_once()
            with self._lock:
                failed = [(m.config.name, v, s) for m in self._models.values()
                          for v, s in m.states.items() if s.error_code != grpc.StatusCode.OK]
                waiting = [m.config.name for m in self._models.values() if not m.served]
            if failed:
                name, version, status = failed[0]
                raise errors.ServingError(status.error_code,
                                          f"Loading servable: {{name: {name} version: {version}}} failed: "
                                          f"{status.error_message}")
            if not waiting:
                return
            self._stop.wait(max(poll_wait_seconds, 1.0))

    def start_polling(self, poll_wait_seconds: float) -> None:
        """Polls the base paths every `poll_wait_seconds` in a background thread (0 or less: never)."""
        if poll_wait_seconds <= 0:
            return

        def poll_forever() -> None:
            while not self._stop.wait(poll_wait_seconds):
                try:
                    self.poll_once()
                except Exception:  # keep serving whatever is loaded
                    log.exception("File system poll failed")
                if self._unloaded_since_trim:
                    self._unloaded_since_trim = False
                    return_freed_memory()

        self._poll_thread = threading.Thread(target=poll_forever, name="model-poller", daemon=True)
        self._poll_thread.start()

    def stop(self) -> None:
        """Stops polling and releases every version (call after requests have drained)."""
        self._stop.set()
        if self._poll_thread is not None:
            self._poll_thread.join()
        for model in self._models.values():
            for version in sorted(model.served):
                self._unload(model, version)
