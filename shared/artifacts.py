"""Saved artifacts (models, indexes): sha256 manifests, atomic writes, versioned stores.

Every artifact is a directory of safetensors/JSON/FAISS/ONNX files plus ``manifest.json``
listing each file's sha256. Loading verifies the manifest first, so a flipped byte or
a stray pickle is refused before any bytes are deserialised.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

from .errors import IntegrityError, NotFoundError

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
# Formats that execute code when loaded; never written, refused when found.
FORBIDDEN_SUFFIXES = {".pkl", ".pickle", ".joblib", ".bin", ".pt", ".pth", ".ckpt", ".npy", ".npz"}


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _artifact_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file() and p.name != MANIFEST)


def write_manifest(directory: str | Path, kind: str, extra: dict | None = None) -> dict:
    """List every file of ``directory`` with its sha256 in ``manifest.json``."""
    directory = Path(directory)
    files = _artifact_files(directory)
    for path in files:
        if path.suffix.lower() in FORBIDDEN_SUFFIXES:
            raise IntegrityError(f"refusing to save {path.name}: pickle-based formats are not allowed")
    from . import __version__

    manifest = {
        "kind": kind,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "troika_version": __version__,
        "files": {p.relative_to(directory).as_posix(): sha256_file(p) for p in files},
        **(extra or {}),
    }
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return manifest


def verify_manifest(directory: str | Path, kind: str | None = None) -> dict:
    """Check ``directory`` against its manifest; raise IntegrityError naming the first problem."""
    directory = Path(directory)
    if not directory.is_dir():
        raise NotFoundError(f"{directory} does not exist or is not a directory")
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
        listed = dict(manifest["files"])
    except FileNotFoundError:
        raise IntegrityError(f"{directory} has no {MANIFEST}; save it with troika before loading") from None
    except (ValueError, KeyError, TypeError):
        raise IntegrityError(f"{directory}/{MANIFEST} is unreadable or malformed") from None
    if kind is not None and manifest.get("kind") != kind:
        raise IntegrityError(f"{directory} holds a {manifest.get('kind')!r}, expected a {kind!r}")
    present = {p.relative_to(directory).as_posix() for p in _artifact_files(directory)}
    for name in sorted(present - set(listed)):
        raise IntegrityError(f"{directory}/{name} is not listed in the manifest; refusing to load")
    for name, expected in sorted(listed.items()):
        path = directory / name
        if Path(name).suffix.lower() in FORBIDDEN_SUFFIXES:
            raise IntegrityError(f"{directory}/{name}: pickle-based formats are not allowed")
        if not path.is_file():
            raise IntegrityError(f"{directory}/{name} is listed in the manifest but missing")
        if sha256_file(path) != expected:
            raise IntegrityError(f"{directory}/{name} does not match its sha256 in the manifest (corrupted or modified)")
    return manifest


# A version's ONNX export (what serves it) lives inside the version, under its manifest: pruning,
# rollback and integrity checks then treat the version and its export as one artifact.
ONNX_EXPORT = "onnx"

# What a trained model is served with, chosen when it is trained (thresholds are chosen on what is
# served): ONNX int8 (fastest), ONNX fp32 (full precision: int8 costs mpnet-base more than MiniLM)
# or torch (no export). The value is export_onnx's ``quantize`` (None: no export).
SERVE_RUNTIMES = {"onnx-int8": True, "onnx-fp32": False, "torch": None}
DEFAULT_SERVE = "onnx-int8"
# The metadata an ONNX export (shared.onnx_runtime) writes beside its graph: it records ``quantized``.
ENCODER_META, CLASSIFIER_META = "onnx_encoder.json", "onnx_classifier.json"


def export_quantized(serve: str) -> bool:
    """Whether an export made for ``serve`` is int8: fp32 only where fp32 was chosen, since a torch-served
    model asked for an export later gets the default."""
    return SERVE_RUNTIMES[serve] is not False


def served_with(export_dir: str | Path) -> str:
    """The SERVE_RUNTIMES name of what serves from ``export_dir``: onnx-int8 or onnx-fp32 as the export's own
    metadata says, torch where it holds no export."""
    for name in (ENCODER_META, CLASSIFIER_META):
        meta = Path(export_dir) / name
        if meta.is_file():
            return "onnx-int8" if json.loads(meta.read_text()).get("quantized", True) else "onnx-fp32"
    return "torch"


def is_onnx_export(model_dir: str | Path) -> bool:
    """Whether ``model_dir``'s manifest says it is an exported ONNX classifier (else: a torch model, or nothing)."""
    try:
        return json.loads((Path(model_dir) / MANIFEST).read_text()).get("kind") == "onnx-classifier"
    except (OSError, ValueError):
        return False


def onnx_dir(version: str | Path) -> Path:
    """Where the ONNX export of a saved model or store version lives: its ``onnx/`` folder, in every app."""
    return Path(version) / ONNX_EXPORT


def add_to_manifest(directory: str | Path, part: str | Path) -> dict:
    """List the files under ``directory/part`` (written after ``directory`` was saved, e.g. its ONNX export)
    in ``directory``'s manifest, keeping what it says already; the manifest is replaced atomically."""
    directory = Path(directory)
    manifest = json.loads((directory / MANIFEST).read_text())
    for path in _artifact_files(directory / part):
        if path.suffix.lower() in FORBIDDEN_SUFFIXES:
            raise IntegrityError(f"refusing to add {path.name}: pickle-based formats are not allowed")
        manifest["files"][path.relative_to(directory).as_posix()] = sha256_file(path)
    write_text_atomic(directory / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True))
    return manifest


@contextlib.contextmanager
def atomic_dir(target: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling of ``target``; on success it replaces ``target`` by renames.

    Readers see either the old directory or the whole new one, never a half-written one.
    The replaced directory is kept as ``<target>.previous`` for rollback.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        yield tmp
        fsync_tree(tmp)
        previous = target.with_name(target.name + ".previous")
        if target.exists():
            if previous.exists():
                shutil.rmtree(previous)
            os.replace(target, previous)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def fsync_tree(directory: Path) -> None:
    for path in directory.rglob("*"):
        if path.is_file():
            with open(path, "rb") as fh:
                os.fsync(fh.fileno())


def write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with open(tmp, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class ArtifactStore:
    """Versions of one artifact under ``root``; ``ACTIVE`` names the one being served.

    ``publish`` adds a version and (optionally) activates it with one atomic rename, so a
    server reading ``active()`` switches from the whole old version to the whole new one.
    Old versions stay on disk for ``rollback``.
    """

    def __init__(self, root: str | Path):
        self.root = Path(root)

    @property
    def _pointer(self) -> Path:
        return self.root / "ACTIVE"

    def versions(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and (p / MANIFEST).exists())

    def active(self) -> Path | None:
        try:
            name = self._pointer.read_text().strip()
        except FileNotFoundError:
            return None
        return self.root / name

    def new_version_dir(self) -> Path:
        # Names sort in creation order (microseconds), which is what rollback relies on.
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
        return self.root / f"v{stamp}-{uuid.uuid4().hex[:6]}"

    def activate(self, version: str | Path) -> Path:
        path = self.root / Path(version).name
        verify_manifest(path)
        self.root.mkdir(parents=True, exist_ok=True)
        write_text_atomic(self._pointer, path.name + "\n")
        return path

    def prune(self, keep: int = 3) -> list[str]:
        """Delete all but the ``keep`` newest versions, never the active one; the names deleted.

        A model version can weigh a hundred megabytes (an encoder), and a periodic retrain
        adds one each time: without pruning the disk fills. The newest are kept for rollback."""
        if keep < 1:
            raise ValueError(f"keep must be at least 1, got {keep}")
        active = self.active()
        old = [v for v in self.versions()[:-keep] if active is None or v != active.name]
        for name in old:
            shutil.rmtree(self.root / name, ignore_errors=True)
        return old

    def rollback(self) -> Path:
        """Activate the version published before the active one."""
        current = self.active()
        older = [v for v in self.versions() if current is None or v < current.name]
        if not older:
            raise NotFoundError(f"no earlier version under {self.root} to roll back to")
        return self.activate(older[-1])


class ActiveWatcher:
    """Calls ``load(path)`` each time ``store``'s active version changes, so a server picks up a
    promotion without a restart. A daemon thread polls every ``interval`` seconds (one small file
    read); ``check()`` is one poll, for tests and for callers with their own loop. A version that
    fails to load is logged and the one already serving stays, until ACTIVE changes again.
    """

    def __init__(self, store: ArtifactStore, load, *, interval: float = 2.0, current: Path | None = None):
        self.store, self.load, self.interval = store, load, interval
        self.current = current if current is not None else store.active()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # One poll at a time: a caller's check() racing the thread's must not load one version twice,
        # and must return only after the version it saw is serving.
        self._lock = threading.Lock()

    def check(self) -> bool:
        """Load the active version if it changed since the last look; True when this call loaded one."""
        with self._lock:
            active = self.store.active()
            if active is None or active == self.current:
                return False
            seen, self.current = self.current, active  # tried once per change, not once per poll
            try:
                self.load(active)
            except Exception:
                log.exception("could not load %s; still serving %s", active, seen)
                return False
            return True

    def start(self) -> ActiveWatcher:
        def loop():
            while not self._stop.wait(self.interval):
                self.check()

        self._thread = threading.Thread(target=loop, name=f"watch-{self.store.root.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval + 1)
