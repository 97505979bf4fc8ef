"""Output folders: archsim replaces only what it wrote, atomically, one process at a time.

Every command that writes an output folder (``archsim run``, ``archsim sweep``,
``archsim.reporting.run_folder.write_run``) goes through :class:`OutputFolder`. The promises, in
the order they are checked:

- **Never removed, not even with ``--force``**: the filesystem root and its top-level folders
  (``/etc``, ``/tmp``), mount points, the current directory or any folder above it, the home
  folder or any folder above it, an input file or a folder holding one, and anything that is
  neither a folder nor a regular file (``/dev/null``, a FIFO).
- **Removed only with ``--force``**: a folder archsim did not write (no ``.archsim-output`` marker,
  and not an output of an archsim older than the marker), an archsim folder of another kind
  (a sweep under ``archsim run``), an archsim folder holding files archsim does not write there
  (a ``measured.csv`` the user put in), and an existing regular file. An empty folder is replaced.
- ``--out`` naming a symlink means the folder it points to; the checks apply to that real path.
- **Atomic**: files are written into a staging sibling ``.NAME.archsim-staging.PID-START.X`` and
  swapped into place with one ``renameat2(RENAME_EXCHANGE)`` (two renames where the filesystem
  lacks it): a reader sees the old folder or the new one, never a mix; a failure leaves the old one.
- **Locked**: ``.NAME.archsim-lock`` beside the folder, held with ``flock`` for the whole command; a
  second process into the same ``--out`` stops at once with one error line naming the holder.
  The kernel drops the lock when its holder dies, so a ``kill -9`` never leaves it stuck.
- **Stale staging is cleaned**: staging folders and temporary files carry their writer's pid and
  process start time; the next command into the same ``--out`` removes those whose writer is gone
  (and puts back an old folder that a kill left aside between two renames).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import json
import os
import re
import secrets
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import archsim
from archsim.errors import ConfigError

MARKER = ".archsim-output"
#: File names archsim writes in an output folder of each kind (anything else is the user's).
KNOWN_FILES = {
    "run": frozenset({MARKER, "summary.json", "ops.csv", "report.html", "timeline.json"}),
    "sweep": frozenset({MARKER, "results.parquet", "sweep.json", "report.html", "results.parquet.damaged"}),
    "serve": frozenset({MARKER, "summary.json", "requests.parquet", "timeline.json", "report.html"}),
}
_OWNED = re.compile(r"^\.(?P<base>.+)\.archsim-(?P<what>staging|old|tmp)\.(?P<pid>\d+)-(?P<start>\d+)\.\w+$")
#: temporaries of the files archsim writes, as archsim before 0.2 named them (``tempfile.mkstemp``)
_OLD_TEMP = re.compile(r"^\.(?:results\.parquet|sweep\.json|report\.html|timeline\.json)\.[a-z0-9_]{8}$")


# --- processes -----------------------------------------------------------------------------------

def _start_ticks(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks since boot (Linux ``/proc``); None if it is gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    except OSError:
        return 0
    fields = stat[stat.rfind(")") + 2:].split()
    return None if fields[0] in ("Z", "X") else int(fields[19])


def process_tag(pid: int | None = None) -> str:
    """``PID-START``: names this process's temporaries so a later run can tell whether it is alive."""
    pid = os.getpid() if pid is None else pid
    start = _start_ticks(pid) if Path("/proc").is_dir() else 0
    return f"{pid}-{start or 0}"


def owner_alive(pid: int, start: int) -> bool:
    """Is the process that wrote a temporary still running? (A reused pid has another start time.)"""
    if Path("/proc").is_dir():
        now = _start_ticks(pid)
        return now is not None and (start == 0 or now == start)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --- files -------------------------------------------------------------------------------------

def _temp_name(path: Path, what: str) -> Path:
    return path.with_name(f".{path.name}.archsim-{what}.{process_tag()}.{secrets.token_hex(4)}")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a fsynced temporary in the same folder and ``os.replace``."""
    tmp = _temp_name(path, "tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj: Any, *, indent: int | None = 2) -> None:
    """JSON with ``allow_nan=False``: a NaN or infinity raises ValueError instead of writing invalid JSON."""
    atomic_write_bytes(path, (json.dumps(obj, indent=indent, default=str, allow_nan=False) + "\n").encode())


def clean_stale(folder: Path, base: str | None = None) -> list[Path]:
    """Remove archsim temporaries in ``folder`` whose writer is dead (only those named for ``base``
    if given); put back an old folder that a kill left aside. Returns what was removed."""
    removed: list[Path] = []
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = _OWNED.match(entry.name)
        if not match or (base is not None and match["base"] != base):
            continue
        if owner_alive(int(match["pid"]), int(match["start"])):
            continue
        home = entry.with_name(match["base"])
        if match["what"] == "old" and not os.path.lexists(home):
            os.rename(entry, home)  # killed between the two renames of a replace: restore the old output
            continue
        _remove(entry)
        removed.append(entry)
    return removed


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)  # does not follow symlinks inside
    else:
        path.unlink(missing_ok=True)


def _fsync_tree(folder: Path) -> None:
    for entry in [*folder.iterdir(), folder]:
        if entry.is_symlink() or not (entry.is_file() or entry.is_dir()):
            continue
        fd = os.open(entry, os.O_RDONLY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


_RENAME_NOREPLACE, _RENAME_EXCHANGE = 1, 2


def _renameat2(src: Path, dst: Path, flags: int) -> bool:
    """Linux ``renameat2``; False where the kernel, libc or filesystem lacks it (the caller falls back)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        func = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    if func(at_fdcwd, os.fsencode(src), at_fdcwd, os.fsencode(dst), flags) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(dst))


# --- what an existing path is --------------------------------------------------------------------

def folder_kind(path: Path, *, exact: bool = True) -> str | None:
    """``"run"``/``"sweep"`` for an archsim output folder (marker, or the files of an older archsim), else None.

    An unmarked folder counts only if its summary.json / sweep.json is archsim's and (``exact``) it
    holds nothing but the files archsim writes there."""
    try:
        marker = json.loads((path / MARKER).read_text())
    except (OSError, ValueError):
        marker = None
    if isinstance(marker, dict) and marker.get("written_by") == "archsim" and marker.get("kind") in KNOWN_FILES:
        return str(marker["kind"])
    try:
        names = {e.name for e in path.iterdir()}
    except OSError:
        return None
    for kind, primary, key in (("run", "summary.json", "archsim_version"), ("sweep", "sweep.json", "fingerprint")):
        if primary in names and (names <= KNOWN_FILES[kind] or not exact):
            try:
                if key in json.loads((path / primary).read_text()):
                    return kind
            except (OSError, ValueError, TypeError):
                if kind == "sweep" and not exact and "results.parquet" in names:
                    return kind  # an older archsim's sweep folder whose sweep.json is damaged
    return None


def foreign_entries(path: Path, kind: str) -> list[str]:
    """Entries of an output folder that archsim does not write there (the user's files)."""
    return sorted(e.name for e in path.iterdir()
                  if e.name not in KNOWN_FILES[kind] and not _OWNED.match(e.name) and not _OLD_TEMP.match(e.name))


def _within(inner: Path, outer: Path) -> bool:
    return inner == outer or outer in inner.parents


def _listing(path: Path) -> str:
    names = sorted(e.name for e in path.iterdir())
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return f"{len(names)} entr{'y' if len(names) == 1 else 'ies'} ({shown})"


class OutputFolder:
    """One output folder, checked and locked for the life of a ``with`` block.

    ``kind`` is ``"run"`` or ``"sweep"``; ``inputs`` are the files the command reads (never inside
    the folder replaced); ``force`` allows replacing what archsim did not write (see the module doc).
    ``replace(write)`` builds a new folder and swaps it in; ``update()`` prepares a folder that is
    written in place (a resumable sweep) and returns its real path.
    """

    def __init__(self, path: str | Path, *, kind: str, force: bool = False, replace: bool = True,
                 inputs: Iterable[str | Path] = (), flag: str = "--out"):
        self.given = Path(path)
        self.kind = kind
        self.force = force
        self.replacing = replace
        self.inputs = [Path(p) for p in inputs if p is not None and Path(p).exists()]
        self.flag = flag
        self.path = self._check()
        self._lock_fd: int | None = None

    # -- checks ---------------------------------------------------------------------------------
    @property
    def _may_replace_foreign(self) -> bool:
        return self.force and self.replacing

    def _refuse(self, why: str, *, forceable: bool = False) -> ConfigError:
        if forceable:
            how = "choose another --out, or pass --force to replace it (its files are removed)"
            if not self.replacing:
                how = "choose another --out, or pass --overwrite --force to replace it (its files are removed)"
        else:
            how = "choose another --out" + ("" if self.force else " (--force does not change this)")
        return ConfigError.single(f"{self.given}: {why}; {how}", key_path=self.flag)

    def _check(self) -> Path:
        given = self.given.expanduser()
        if given.is_symlink() and not given.exists():
            raise self._refuse(f"is a symlink to {os.readlink(given)}, which does not exist")
        try:
            real = given.resolve()
        except (OSError, RuntimeError) as exc:  # a symlink loop
            raise self._refuse(f"cannot be resolved ({exc})") from None
        if real.is_symlink():  # resolve() stops at a symlink loop on some Pythons
            raise self._refuse("is a symlink that does not resolve")
        for name, keep in (("the current directory", Path.cwd().resolve()),
                           ("your home folder", Path.home().resolve())):
            if _within(keep, real):
                what = "is" if keep == real else "is a folder above"
                raise self._refuse(f"{what} {name}; archsim never replaces or writes into it")
        if real.parent == Path(real.anchor):
            raise self._refuse("is a top-level folder of the filesystem; archsim never replaces one")
        if os.path.ismount(real):
            raise self._refuse("is a mount point; archsim never replaces one")
        for item in self.inputs:
            source = item.resolve()
            if source == real:
                raise self._refuse("is an input of this command; archsim never replaces its inputs")
            if _within(source.parent, real):
                raise self._refuse(f"holds the input {item}; archsim never replaces a folder holding its inputs")
        if not os.path.lexists(real):
            above = next(p for p in real.parents if os.path.lexists(p))
            if not above.is_dir():
                raise self._refuse(f"cannot be made: {above} is a file, not a folder")
            return real
        if not real.is_dir():
            if not real.is_file():
                raise self._refuse("exists and is not a folder or a regular file")
            if not self._may_replace_foreign:
                raise self._refuse("is an existing file, not an output folder", forceable=True)
            return real
        self._check_folder(real)
        return real

    def _check_folder(self, real: Path) -> None:
        try:
            empty = not any(real.iterdir())
        except OSError as exc:
            raise self._refuse(f"cannot be read ({exc.strerror})") from None
        if empty or self._may_replace_foreign:
            return
        kind = folder_kind(real)
        if kind is None:
            raise self._refuse(f"is not an archsim output folder (no {MARKER}) and holds {_listing(real)}",
                               forceable=True)
        if kind != self.kind:
            raise self._refuse(f"holds the output of an archsim {kind}, not of an archsim {self.kind}",
                               forceable=True)
        foreign = foreign_entries(real, kind) if self.replacing else []
        if foreign:
            raise self._refuse(f"holds files archsim did not write ({', '.join(foreign[:5])})", forceable=True)

    # -- lock -----------------------------------------------------------------------------------
    @property
    def lock_path(self) -> Path:
        return self.path.with_name(f".{self.path.name}.archsim-lock")

    def __enter__(self) -> OutputFolder:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._lock()
        except OSError as exc:
            raise self._refuse(f"cannot be written ({exc.strerror}: {exc.filename})") from None
        try:
            clean_stale(self.path.parent, self.path.name)
            self.path = self._check()  # again, now that no other archsim changes it
            if self.path.is_dir():
                clean_stale(self.path)
        except BaseException:
            self._unlock()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._unlock()

    def _lock(self) -> None:
        for _ in range(50):
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(fd, 200).decode(errors="replace").strip() or "another process"
                os.close(fd)
                raise ConfigError.single(f"{self.given}: another archsim ({holder}) is writing this folder now; "
                                         "wait for it to finish, or choose another --out", key_path=self.flag) from None
            with contextlib.suppress(FileNotFoundError):
                if os.stat(self.lock_path).st_ino == os.fstat(fd).st_ino:  # not unlinked by the last holder
                    os.ftruncate(fd, 0)
                    os.write(fd, f"pid {os.getpid()}\n".encode())
                    self._lock_fd = fd
                    return
            os.close(fd)
        raise self._refuse("its lock file keeps changing; is another program removing it?")

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            self.lock_path.unlink(missing_ok=True)  # while still holding it: a waiter retries on the new file
            os.close(self._lock_fd)
            self._lock_fd = None

    # -- writing --------------------------------------------------------------------------------
    def _marker(self, folder: Path) -> None:
        text = json.dumps({"written_by": "archsim", "archsim_version": archsim.__version__, "kind": self.kind,
                           "note": "archsim replaces this folder on the next run into it"}, indent=1)
        (folder / MARKER).write_text(text + "\n")

    def replace(self, write: Callable[[Path], None]) -> Path:
        """Run ``write(staging)``, add the marker, then swap the staging folder into place."""
        if self._lock_fd is None:
            raise RuntimeError("OutputFolder.replace() outside its with-block")
        staging = _temp_name(self.path, "staging")
        try:
            staging.mkdir()
            self._marker(staging)
            write(staging)
            _fsync_tree(staging)
            self._swap_in(staging)
        except OSError as exc:
            raise self._refuse(f"could not be written ({exc.strerror}: {exc.filename}); nothing was replaced") \
                from None
        finally:
            if staging.exists() or staging.is_symlink():
                _remove(staging)
        return self.path

    def update(self) -> Path:
        """A folder written in place (a sweep): create it (marked) if missing, else mark it if unmarked."""
        if self.replacing or not self.path.is_dir():
            return self.replace(lambda _: None)
        if not (self.path / MARKER).exists():
            try:
                self._marker(self.path)
            except OSError as exc:
                raise self._refuse(f"cannot be written ({exc.strerror})") from None
        return self.path

    def _swap_in(self, staging: Path) -> None:
        target = self.path
        if not os.path.lexists(target):
            try:
                if not _renameat2(staging, target, _RENAME_NOREPLACE):
                    os.rename(staging, target)  # onto nothing (or an empty folder made meanwhile)
            except OSError as exc:
                if exc.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR, errno.EISDIR):
                    raise self._lost_race() from None
                raise
            return
        if _renameat2(staging, target, _RENAME_EXCHANGE):
            old = staging
        else:
            old = _temp_name(target, "old")
            os.rename(target, old)
            os.rename(staging, target)
        try:
            if old.is_dir():
                self._check_folder(old)  # what was swapped out must still be what was checked
        except ConfigError:
            if old == staging:
                _renameat2(staging, target, _RENAME_EXCHANGE)
            else:
                os.rename(target, staging)
                os.rename(old, target)
            raise self._lost_race() from None
        _remove(old)

    def _lost_race(self) -> ConfigError:
        return ConfigError.single(f"{self.given}: lost a race: another program changed it while archsim was "
                                  "writing; nothing was replaced, run again", key_path=self.flag)
