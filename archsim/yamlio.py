"""YAML loading that remembers where each key sits, and validation that reports it.

``load_yaml`` returns the plain data plus a map from key path (tuple of keys/indices) to the
1-based line it appears on. ``validate`` runs a pydantic model over the data and converts its
errors into :class:`~archsim.errors.Problem` objects with file, line and dotted key path.

The loader treats every file as untrusted and bounds it (numbers in :mod:`archsim.limits`):
only regular files are read (a FIFO, a device, a directory or a symlink loop is refused after
an ``os.stat``, before anything is opened for reading, and the bytes read are capped); the text
must be UTF-8 without control characters; nesting depth, alias uses and the values built (each
alias expansion counted again) are capped, so an alias bomb fails in milliseconds; only the
plain YAML types are built (str, int, float, bool, null; a timestamp stays the string it is)
— any other tag, a complex key, a merge key, a recursive alias, an integer beyond int64 or a
non-finite float is a ``file:line: message`` problem, never a traceback.
"""

from __future__ import annotations

import errno
import math
import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from archsim import limits
from archsim.errors import ConfigError, Problem

LineMap = dict[tuple[Any, ...], int]
M = TypeVar("M", bound=BaseModel)

_TAG = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_TAG + t for t in ("str", "int", "float", "bool", "null")}
_TIMESTAMP = _TAG + "timestamp"
_NON_PRINTABLE = re.compile("[^\x09\x0A\x0D\x20-\x7E\x85\xA0-\uD7FF\uE000-\uFFFD\U00010000-\U0010FFFF]")


class _Refused(Exception):
    """A bound or a rule of the loader was hit; carries the message and the 1-based line."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.message, self.line = message, line


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader whose composer caps nesting depth and alias uses (it never constructs objects)."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.depth = 0
        self.aliases = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        line = event.start_mark.line + 1 if event.start_mark else None
        if isinstance(event, yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > limits.MAX_YAML_ALIASES:
                raise _Refused(f"more than {limits.MAX_YAML_ALIASES} alias uses (*name) in one file", line)
        self.depth += 1
        if self.depth > limits.MAX_YAML_DEPTH:
            raise _Refused(f"nesting deeper than {limits.MAX_YAML_DEPTH} levels", line)
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


class _Builder:
    """Turns a composed node graph into plain data, recording lines and enforcing the value budget."""

    def __init__(self, loader: _BoundedLoader, file: str) -> None:
        self.loader, self.file = loader, file
        self.lines: LineMap = {}
        self.problems: list[Problem] = []
        self.built = 0
        self.open: set[int] = set()  # ids of the collection nodes being built (recursive alias check)

    def build(self, node: yaml.Node, path: tuple[Any, ...]) -> Any:
        line = node.start_mark.line + 1
        self.built += 1
        if self.built > limits.MAX_YAML_NODES:
            raise _Refused(f"the document expands to more than {limits.MAX_YAML_NODES} values "
                           "(aliases are counted each time they are used)", line)
        self.lines[path] = line
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node, line)
        if id(node) in self.open:
            raise _Refused("recursive alias: a value contains itself", line)
        self.open.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self.mapping(node, path, line)
            if node.tag != _TAG + "seq":
                raise _Refused(f"tag {node.tag!r} is not supported; write a plain list", line)
            return [self.build(item, path + (i,)) for i, item in enumerate(node.value)]
        finally:
            self.open.discard(id(node))

    def mapping(self, node: yaml.MappingNode, path: tuple[Any, ...], line: int) -> dict[Any, Any]:
        if node.tag != _TAG + "map":
            raise _Refused(f"tag {node.tag!r} is not supported; write a plain mapping", line)
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key_line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                raise _Refused("complex keys (a list or mapping used as a key) are not supported", key_line)
            if key_node.tag == _TAG + "merge":
                raise _Refused("merge keys (<<) are not supported; write the keys out", key_line)
            key = self.scalar(key_node, key_line)
            if key in out:
                self.problems.append(Problem(f"duplicate key {key!r}", file=self.file, line=key_line,
                                             key_path=_dotted(path + (key,))))
            out[key] = self.build(value_node, path + (key,))
            self.lines[path + (key,)] = key_line  # a key points at its own line, not its value's
        return out

    def scalar(self, node: yaml.ScalarNode, line: int) -> Any:
        if node.tag == _TIMESTAMP:
            return node.value  # a date stays the text it is; no schema takes datetimes
        if node.tag not in _SCALAR_TAGS:
            raise _Refused(f"tag {node.tag!r} is not supported (plain strings, numbers, booleans and null only)",
                           line)
        if node.tag == _TAG + "int" and len(node.value) > 40:
            raise _Refused(f"integer with {len(node.value)} characters is out of range "
                           f"(limit {limits.MAX_YAML_INT})", line)
        try:
            value = self.loader.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, OverflowError) as exc:
            raise _Refused(f"cannot read value {node.value[:40]!r}: {exc}", line) from None
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > limits.MAX_YAML_INT:
            raise _Refused(f"integer {value:.3e} is out of range (limit {limits.MAX_YAML_INT})", line)
        if isinstance(value, float) and not math.isfinite(value):
            raise _Refused(f"non-finite number {node.value[:40]!r} is not accepted", line)
        return value


def _check_text(text: str, file: str) -> None:
    if len(text) > limits.MAX_YAML_BYTES:
        raise ConfigError.single(f"file is larger than {limits.MAX_YAML_BYTES} bytes", file=file)
    bad = _NON_PRINTABLE.search(text)
    if bad:
        line = text.count("\n", 0, bad.start()) + 1
        raise ConfigError.single(f"control character U+{ord(bad.group()):04X} is not allowed in YAML", file=file,
                                 line=line)


def load_yaml_text(text: str, file: str) -> tuple[Any, LineMap]:
    """Parse YAML ``text`` (named ``file`` in messages). Raises ConfigError on malformed or unbounded YAML."""
    _check_text(text, file)
    loader = _BoundedLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise ConfigError.single("file is empty; expected a YAML mapping", file=file, line=1)
        builder = _Builder(loader, file)
        data = builder.build(node, ())
    except _Refused as exc:
        raise ConfigError.single(exc.message, file=file, line=exc.line) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        context = ""
        if exc.context and exc.context_mark is not None:
            context = f" ({exc.context} started on line {exc.context_mark.line + 1})"
        raise ConfigError.single(f"malformed YAML: {exc.problem or exc}{context}", file=file, line=line) from None
    except yaml.YAMLError as exc:
        raise ConfigError.single(f"malformed YAML: {exc}", file=file) from None
    except RecursionError:  # a backstop: the depth cap stops nesting long before Python's limit
        raise ConfigError.single("nesting too deep", file=file) from None
    finally:
        loader.dispose()
    if builder.problems:
        raise ConfigError(builder.problems)
    if not isinstance(data, Mapping):
        raise ConfigError.single(f"expected a YAML mapping at top level, got {type(data).__name__}", file=file,
                                 line=1)
    return data, builder.lines


def read_input_text(path: str | Path, *, limit: int = limits.MAX_YAML_BYTES) -> str:
    """The UTF-8 text of the regular file ``path``, at most ``limit`` bytes.

    Never blocks and never reads without bound: the path is checked with ``os.stat`` first (a
    directory, FIFO, socket or device is refused unopened), opened non-blocking, checked again on
    the open descriptor, and read up to ``limit`` bytes. Every failure is a ConfigError naming the file.
    """
    file = str(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise ConfigError.single("file not found", file=file) from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
        raise ConfigError.single(_os_reason(exc) if isinstance(exc, OSError) else "not a usable path",
                                 file=file) from None
    _require_regular(info, file, limit)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise ConfigError.single(_os_reason(exc), file=file) from None
    try:
        _require_regular(os.fstat(fd), file, limit)  # the path may have been swapped after the stat
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise ConfigError.single(_os_reason(exc), file=file) from None
    finally:
        os.close(fd)
    if size > limit:
        raise ConfigError.single(f"file is larger than {limit} bytes", file=file)
    raw = b"".join(chunks)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ConfigError.single("file is not UTF-8 text", file=file, line=line) from None


def _require_regular(info: os.stat_result, file: str, limit: int) -> None:
    if stat.S_ISDIR(info.st_mode):
        raise ConfigError.single("is a directory, not a file", file=file)
    if not stat.S_ISREG(info.st_mode):
        kind = ("a FIFO" if stat.S_ISFIFO(info.st_mode) else "a device" if stat.S_ISCHR(info.st_mode)
                or stat.S_ISBLK(info.st_mode) else "a socket" if stat.S_ISSOCK(info.st_mode) else "not a file")
        raise ConfigError.single(f"is {kind}; only regular files are read", file=file)
    if info.st_size > limit:
        raise ConfigError.single(f"file is larger than {limit} bytes ({info.st_size} bytes)", file=file)


def _os_reason(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "symlink loop: the path cannot be resolved"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if exc.errno == errno.ENAMETOOLONG:
        return "path too long"
    return f"cannot read file: {exc.strerror or exc}"


def load_yaml(path: str | Path) -> tuple[Any, LineMap]:
    """Read (bounded, regular files only) and parse a YAML file. Every failure is a ConfigError naming it."""
    return load_yaml_text(read_input_text(path), str(path))


def _dotted(path: tuple[Any, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


_UNION_TAG_KEYS = ("family", "phase", "op", "kind")


def _is_union_tag(node: Mapping[Any, Any], part: Any, next_part: Any) -> bool:
    """True when ``part`` is the tag pydantic puts in a loc for a discriminated union.

    A tag equal to a real key (``family: gpu`` with a ``gpu:`` section) is a tag unless the
    next loc part continues into that section.
    """
    if not any(node.get(k) == part for k in _UNION_TAG_KEYS if k in node):
        return False
    section = node.get(part)
    return not (isinstance(section, Mapping) and next_part in section)


def _loc_to_path(data: Any, loc: tuple[Any, ...], missing: bool = False) -> tuple[Any, ...]:
    """Keep the parts of a pydantic ``loc`` that exist in ``data``.

    Dropped: discriminated-union tags (``gpu`` for ``family: gpu``), union branch names and
    validator names. For a ``missing`` error the final part is kept: it names the absent key.
    """
    path: list[Any] = []
    node = data
    for i, part in enumerate(loc):
        if isinstance(node, Mapping) and _is_union_tag(node, part, loc[i + 1] if i + 1 < len(loc) else None):
            continue
        if isinstance(node, Mapping) and part in node:
            path.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            path.append(part)
            node = node[part]
        elif missing and i == len(loc) - 1 and isinstance(node, Mapping) and isinstance(part, str):
            path.append(part)
    return tuple(path)


def _line_for(path: tuple[Any, ...], lines: LineMap) -> int | None:
    for cut in range(len(path), -1, -1):
        if path[:cut] in lines:
            return lines[path[:cut]]
    return None


def problems_from_validation(exc: ValidationError, data: Any, lines: LineMap, file: str,
                             prefix: tuple[Any, ...] = ()) -> list[Problem]:
    """Turn a pydantic ValidationError into Problems with file, line and key path."""
    problems = []
    seen: set[tuple[str, str]] = set()
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        ctx = err.get("ctx") or {}
        path = _loc_to_path(data, loc, missing=err["type"] == "missing")
        if "key" in ctx:
            path = path + (ctx["key"],)
        full = prefix + path
        message = err["msg"]
        if message.startswith("Value error, "):
            message = message[len("Value error, "):]
        key = (_dotted(full), message)
        if key in seen:
            continue
        seen.add(key)
        problems.append(Problem(message, file=file, line=_line_for(full, lines), key_path=_dotted(full) or None))
    return problems


def validate(model: type[M], data: Any, lines: LineMap, file: str, prefix: tuple[Any, ...] = ()) -> M:
    """Validate ``data`` against ``model``; every error becomes a Problem in one ConfigError."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(problems_from_validation(exc, data, lines, file, prefix)) from None
