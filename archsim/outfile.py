"""Single output files (``--json``, ``--plot``, ``--svg``, ``--markdown``, ``--timeline``, ``--command-trace``).

archsim replaces an existing file only if archsim wrote it, and writes atomically (a fsynced
temporary in the same folder, then ``os.replace``, via :func:`archsim.outdir.atomic_write_bytes`):
a reader sees the old file or the new one, never half of one. "archsim wrote it" is a marker the
writer puts in the first bytes and :func:`written_by_archsim` reads back (first :data:`HEAD_BYTES`):

- JSON: the first key is ``"archsim": {"version": ..., "kind": ...}`` (:func:`json_doc`); a
  Chrome/Perfetto trace starts with ``"metadata": {"archsim": {"version": ..., ...}}`` (:func:`trace_doc`);
- HTML, SVG, Markdown: the comment ``<!-- written by archsim VERSION (KIND) -->`` (:func:`comment`;
  first line of Markdown, of HTML (after its doctype), right after the ``<svg ...>`` start tag in SVG).

Anything else at the path (a user's file, a folder, ``/dev/null``, a FIFO) is refused with one line
naming the flag and the file (:func:`refusal`, called by :func:`archsim.cli.flags.output_file` while the
flags are parsed and again by :func:`write` just before the rename); nothing is removed. A symlink
is followed: the checks and the write apply to the file it points to.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import archsim
from archsim.errors import ConfigError
from archsim.outdir import atomic_write_bytes

#: how much of an existing file is read to find the marker
HEAD_BYTES = 4096
_JSON_MARK = re.compile(rb'^\s*\{\s*"(?:archsim"\s*:\s*\{\s*"version"|metadata"\s*:\s*\{\s*"archsim"\s*:\s*\{)')
_COMMENT = "<!-- written by archsim"


def marker(kind: str) -> dict[str, str]:
    """``{"version": archsim's version, "kind": what wrote the file}``."""
    return {"version": archsim.__version__, "kind": kind}


def json_doc(doc: dict[str, Any], kind: str) -> dict[str, Any]:
    """``doc`` with ``"archsim": marker(kind)`` as its first key (json.dumps keeps insertion order)."""
    return {"archsim": marker(kind), **{k: v for k, v in doc.items() if k != "archsim"}}


def trace_doc(trace: dict[str, Any], kind: str) -> dict[str, Any]:
    """A Chrome/Perfetto trace dict with ``"metadata": {"archsim": marker(kind), ...}`` first."""
    meta = trace.get("metadata")
    meta = {"archsim": marker(kind), **(meta if isinstance(meta, dict) else {})}
    return {"metadata": meta, **{k: v for k, v in trace.items() if k != "metadata"}}


def comment(kind: str) -> str:
    """The marker line of an HTML, SVG or Markdown file."""
    return f"{_COMMENT} {archsim.__version__} ({kind}) -->"


def marked_text(text: str, kind: str) -> str:
    """HTML or Markdown with the marker comment on its first line (HTML: after a ``<!doctype>`` line)."""
    if text[:9].lower() == "<!doctype" and "\n" in text:
        first, rest = text.split("\n", 1)
        return f"{first}\n{comment(kind)}\n{rest}"
    return f"{comment(kind)}\n{text}"


def marked_svg(svg: str, kind: str) -> str:
    """SVG with the marker comment right after the root ``<svg ...>`` start tag (the file still starts with it)."""
    start = svg.find("<svg")
    end = svg.find(">", start) if start >= 0 else -1
    if end < 0:
        return marked_text(svg, kind)
    return f"{svg[:end + 1]}{comment(kind)}{svg[end + 1:]}"


def _has_marker(head: bytes) -> bool:
    return bool(_JSON_MARK.match(head)) or _COMMENT.encode() in head


def written_by_archsim(path: Path) -> bool:
    """Does the regular file at ``path`` carry archsim's marker in its first HEAD_BYTES?"""
    try:
        with open(path, "rb") as fh:
            return _has_marker(fh.read(HEAD_BYTES))
    except OSError:
        return False


def refusal(path: Path) -> str | None:
    """Why archsim may not write ``path`` (None: it may). Reads, never changes, what is there."""
    real = Path(path).expanduser().resolve()
    if not real.exists():
        return None
    shown = str(path) if Path(path).expanduser().absolute() == real else f"{path} (-> {real})"
    if real.is_dir():
        return f"{shown} is a folder; give a file name"
    if not real.is_file():
        return f"{shown} exists and is not a regular file; archsim does not write there"
    if not os.access(real, os.W_OK):
        return f"{shown} exists and is not writable"
    if not written_by_archsim(real):
        return (f"{shown} exists and archsim did not write it (no archsim marker in its first {HEAD_BYTES} bytes); "
                "archsim does not replace it: remove it yourself or give another file name")
    return None


def check(path: Path, flag: str) -> None:
    """Raise ConfigError (exit 2, one line naming ``flag`` and the file) if archsim may not write ``path``."""
    why = refusal(path)
    if why is not None:
        raise ConfigError.single(why, key_path=flag)


def write(path: Path, data: bytes, *, flag: str) -> Path:
    """Write ``data`` (which must carry the marker) to ``path`` atomically, after :func:`check`; returns the path
    written (a symlink's target)."""
    if not _has_marker(data[:HEAD_BYTES]):
        raise ValueError(f"{flag}: archsim output without its marker (see archsim.outfile)")
    check(path, flag)
    real = Path(path).expanduser().resolve()
    real.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(real, data)
    return real
