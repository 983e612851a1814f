"""Writing files so that nothing is lost: a reader sees the old file or the new one, never half of one.

:func:`check_output` is what every writing command calls before it starts its work, so that a path it
cannot write (a folder, a device, a read-only folder, one of its own inputs) is refused at once, naming
that path, rather than after minutes of computing; :func:`atomic_write` does the writing, and refuses
the same paths on its own.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from .errors import OutputError


def _target(path: Path) -> Path:
    """Where writing ``path`` lands: a symbolic link is written through, to the file it points to."""
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def _nearest_existing(path: Path) -> Path:
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def _not_a_file(path: Path, shown: object) -> str | None:
    """Why ``path`` (shown as ``shown``) cannot be replaced by a new file, or None."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return None
    except OSError as e:
        return f"{shown}: cannot be written ({e.strerror})"
    if stat.S_ISDIR(mode):
        return f"{shown} is a folder, not a file"
    if not stat.S_ISREG(mode):
        return f"{shown} is not a regular file (a device, FIFO or socket); refusing to replace it"
    return None


def _folder_problem(path: Path, shown: object) -> str | None:
    """Why no file can be created at ``path`` (its folder is a file, read-only, not ours), or None."""
    folder = _nearest_existing(path)
    if not folder.is_dir():
        return f"{shown}: {folder} is not a folder"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"{shown}: cannot write in {folder} (a read-only folder, or no permission)"
    return None


def check_output(
    path: str | Path,
    *,
    inputs: Iterable[str | Path] = (),
    suffixes: Iterable[str] = (),
    folder: bool = False,
) -> Path:
    """``path`` as given, after checking that it can be written, before any work is done: an
    :class:`~inceptionkit.errors.OutputError` naming it if it is a folder (a file with ``folder=True``),
    a device, FIFO or socket, lies in a folder that cannot be written, or is one of ``inputs`` (an
    input folder holds the files below it whose suffix is one of ``suffixes``, e.g. its images)."""
    p = Path(path)
    target = _target(p)
    shown = str(p) if target == p else f"{p} (a link to {target})"
    if folder and target.is_dir():
        writable = os.access(target, os.W_OK | os.X_OK)
        problem = None if writable else f"{shown}: cannot write in it (a read-only folder, or no permission)"
    elif folder:
        problem = f"{shown} exists and is not a folder" if target.exists() else _folder_problem(target, shown)
    else:
        problem = _not_a_file(target, shown) or _folder_problem(target, shown)
    if problem:
        raise OutputError(problem)
    real, kinds = Path(os.path.realpath(target)), {s.lower() for s in suffixes}
    for i in inputs:
        held = real.suffix.lower() in kinds and Path(os.path.realpath(i)) in real.parents
        if os.path.realpath(i) == str(real) or held:
            raise OutputError(f"{p} is an input of this command ({i}): it would be overwritten")
    return p


def _renamed(e: OSError, tmp: str, path: Path) -> OSError:
    """``e`` naming ``path`` instead of this write's temporary file (a user never heard of that one)."""
    if e.errno is None or e.filename not in (None, tmp):
        return e
    return OSError(e.errno, e.strerror or os.strerror(e.errno), str(path))


def atomic_write(path: str | Path, write: Callable[[str], object]) -> None:
    """Call ``write(tmp_path)`` then rename over ``path``: readers see the old file or the new one.

    The temporary file lies in the same folder (so the rename is atomic), is flushed to disk before the
    rename, gets the permissions the umask gives an ordinary new file, and is removed if ``write``
    fails or is interrupted. A symbolic link is written through (its target is replaced, the link
    stays); a folder, device, FIFO or socket at ``path`` is refused (:class:`OutputError`), never
    replaced. An OSError about the temporary file names ``path`` instead.
    """
    shown = Path(path)
    path = _target(shown)
    problem = _not_a_file(path, shown)
    if problem:
        raise OutputError(problem)
    tmp = ""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a finished file gets the usual permissions
        write(tmp)
        os.chmod(tmp, 0o666 & ~umask)  # some writers (safetensors) recreate the file as 0600
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        if tmp:
            Path(tmp).unlink(missing_ok=True)
        if e.errno in (errno.EACCES, errno.EROFS, errno.EPERM, errno.ENOTDIR) and not tmp:
            raise OutputError(_folder_problem(path, shown) or f"{shown}: {e.strerror}") from None
        raise _renamed(e, tmp, shown) from None
    except BaseException:
        if tmp:
            Path(tmp).unlink(missing_ok=True)
        raise


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a file's bytes, as hex, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()
