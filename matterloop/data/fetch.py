"""Download dataset files and verify them before they are put in place.

A download streams into a temporary file next to its destination; only when its checksum matches
is it renamed into place, so a failed or corrupt download never leaves a file that looks complete.
"""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from rich.progress import Progress

from matterloop.core.atomic import atomic_path
from matterloop.core.errors import DataError
from matterloop.data.paths import canonical_dataset_name

CHUNK_BYTES = 1 << 16
TIMEOUT_S = 60


class FetchError(DataError):
    """A download that failed or did not verify; nothing was written at the destination."""


@dataclass(frozen=True)
class Checksum:
    """An expected digest: ``sha256`` of the bytes, or git's blob id (``git-sha1``) of the file."""

    kind: str
    hexdigest: str

    def __post_init__(self) -> None:
        if self.kind not in ("sha256", "git-sha1"):
            raise ValueError(f"unknown checksum kind {self.kind!r}")
        expected_length = 64 if self.kind == "sha256" else 40
        digest = self.hexdigest.lower()
        if len(digest) != expected_length or any(c not in "0123456789abcdef" for c in digest):
            raise FetchError(f"{self.kind} checksum must be {expected_length} hex digits")

    def hasher(self, size: int | None):
        if self.kind == "sha256":
            return hashlib.sha256()
        if size is None:
            raise FetchError("a git blob id can only be verified when the server sends the size")
        hasher = hashlib.sha1()
        hasher.update(f"blob {size}\0".encode())
        return hasher


# CDVAE's original MP-20 splits (txie-93/cdvae), verified by their git blob ids.
CDVAE_MP20 = "https://raw.githubusercontent.com/txie-93/cdvae/main/data/mp_20/{split}.csv"
KNOWN_SOURCES = {
    ("mp_20", "train"): (
        CDVAE_MP20.format(split="train"),
        Checksum("git-sha1", "b1c9d498565ac2fd8d075a51ff2ef5e51ba6c21f"),
    ),
    ("mp_20", "val"): (
        CDVAE_MP20.format(split="val"),
        Checksum("git-sha1", "7efe4d7ebeb4f460ceaad35e5326c42111d9c9a1"),
    ),
    ("mp_20", "test"): (
        CDVAE_MP20.format(split="test"),
        Checksum("git-sha1", "5dc643041df53f5ce4970a79930ad262b4f07acd"),
    ),
}


def known_source(dataset: str, split: str) -> tuple[str, Checksum]:
    """The default URL and checksum of a split."""
    key = (canonical_dataset_name(dataset), split)
    if key not in KNOWN_SOURCES:
        raise FetchError(f"no known download for {key[0]} {split}; pass --url and --sha256")
    return KNOWN_SOURCES[key]


def download(url: str, destination: Path, checksum: Checksum, progress: bool = True) -> Path:
    """Download ``url`` to ``destination`` if its checksum matches; raise :class:`FetchError`.

    Args:
        url: http(s) or file URL.
        destination: final path; its directory is created.
        checksum: the expected digest.
        progress: show a progress bar.
    """
    destination.parent.mkdir(parents=True, exist_ok=True)
    try:
        response = urllib.request.urlopen(url, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as exc:
        raise FetchError(f"download of {url} failed: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise FetchError(f"download of {url} failed: {reason}") from exc
    try:
        with response, atomic_path(destination) as temporary, open(temporary, "wb") as handle:
            size = response.headers.get("Content-Length")
            size = int(size) if size is not None else None
            hasher = checksum.hasher(size)
            with Progress(disable=not progress, transient=True) as bar:
                task = bar.add_task(f"downloading {destination.name}", total=size)
                while chunk := response.read(CHUNK_BYTES):
                    hasher.update(chunk)
                    handle.write(chunk)
                    bar.advance(task, len(chunk))
            received = hasher.hexdigest()
            if received != checksum.hexdigest.lower():
                raise FetchError(
                    f"checksum mismatch for {url}: expected {checksum.kind} "
                    f"{checksum.hexdigest.lower()}, got {received}; nothing was written"
                )
    except OSError as exc:
        raise FetchError(f"download of {url} failed: {exc}") from exc
    return destination


def split_destination(dataset: str, split: str, url: str, data_dir: Path) -> Path:
    """Where a downloaded split goes: ``<data_dir>/<dataset>/structures/<split>.csv[.gz]``."""
    suffix = ".csv.gz" if url.split("?")[0].endswith(".gz") else ".csv"
    return data_dir / canonical_dataset_name(dataset) / "structures" / f"{split}{suffix}"
