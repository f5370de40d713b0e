"""Downloading a dataset's official files: streamed, with a progress bar and a checksum.

A file is written to ``<name>.part`` while its MD5 is computed on the fly, checked against
the published checksum, then renamed into place, so an interrupted or corrupted download
never leaves a file that looks complete. Network failures raise :class:`OfflineError`
(the caller turns it into one message saying where it looked and how to get the data).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, BinaryIO
from urllib.error import URLError
from urllib.request import Request, urlopen

from initlab.errors import DataError
from initlab.lab.progress import download_bar

__all__ = ["OfflineError", "download_file", "md5sum", "offline"]

_CHUNK = 1 << 16
_TIMEOUT_S = 30


class OfflineError(Exception):
    """The network could not deliver a file (no connection, DNS, HTTP error, timeout)."""


def offline() -> bool:
    """True when ``$INITLAB_OFFLINE`` is set to a true value: never touch the network."""
    return os.environ.get("INITLAB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def md5sum(path: Path) -> str:
    """Hex MD5 of a file, read in chunks."""
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def download_file(urls: list[str], dest: Path, md5: str | None, *, show_progress: bool = True) -> Path:
    """Fetch ``dest`` from the first of ``urls`` that answers; verify ``md5``; return ``dest``.

    Raises :class:`OfflineError` when no URL can be reached and
    :class:`~initlab.errors.DataError` when a file arrives but its checksum is wrong.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    failures = []
    for url in urls:
        try:
            digest = _stream(url, part, show_progress)
        except (URLError, OSError, TimeoutError) as exc:
            part.unlink(missing_ok=True)
            failures.append(f"{url}: {getattr(exc, 'reason', exc)}")
            continue
        if md5 is not None and digest != md5:
            part.unlink(missing_ok=True)
            raise DataError(f"Checksum mismatch for {dest.name} from {url}: got md5 {digest}; "
                            f"expected {md5}; hint: the server sent a different file, "
                            "try again later or download it by hand")
        os.replace(part, dest)
        return dest
    raise OfflineError("; ".join(failures) or "no URL to download from")


def _stream(url: str, part: Path, show_progress: bool) -> str:
    h = hashlib.md5()
    request = Request(url, headers={"User-Agent": "initlab"})
    with urlopen(request, timeout=_TIMEOUT_S) as response:
        total = response.headers.get("Content-Length") if response.headers else None
        bar = download_bar(show_progress)
        with open(part, "wb") as out:
            if bar is None:
                _copy(response, out, h, None, None)
            else:
                with bar:
                    task = bar.add_task(part.name[: -len(".part")],
                                        total=int(total) if total else None)
                    _copy(response, out, h, bar, task)
    return h.hexdigest()


def _copy(response: Any, out: BinaryIO, h: Any, bar: Any, task: Any) -> None:
    while True:
        block = response.read(_CHUNK)
        if not block:
            return
        out.write(block)
        h.update(block)
        if bar is not None:
            bar.advance(task, len(block))
