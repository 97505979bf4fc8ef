"""YAML loading that remembers where each key sits, and validation that reports it.

``load_yaml`` returns the plain data plus a map from key path (tuple of keys/indices) to the
1-based line it appears on. ``validate`` runs a pydantic model over the data and converts its
errors into :class:`~archsim.errors.Problem` objects with file, line and dotted key path.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from archsim.errors import ConfigError, Problem

LineMap = dict[tuple[Any, ...], int]
M = TypeVar("M", bound=BaseModel)


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys instead of silently keeping the last one."""


def _node_to_data(node: yaml.Node, loader: yaml.SafeLoader, path: tuple[Any, ...], lines: LineMap,
                  problems: list[Problem], file: str) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if key in out:
                problems.append(Problem(f"duplicate key {key!r}", file=file, line=key_node.start_mark.line + 1,
                                        key_path=_dotted(path + (key,))))
            out[key] = _node_to_data(value_node, loader, path + (key,), lines, problems, file)
            lines[path + (key,)] = key_node.start_mark.line + 1  # a key points at its own line, not its value's
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_node_to_data(item, loader, path + (i,), lines, problems, file) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def load_yaml_text(text: str, file: str) -> tuple[Any, LineMap]:
    """Parse YAML ``text`` (named ``file`` in messages). Raises ConfigError on malformed YAML."""
    loader = _UniqueKeyLoader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        context = ""
        if exc.context and exc.context_mark is not None:
            context = f" ({exc.context} started on line {exc.context_mark.line + 1})"
        raise ConfigError.single(f"malformed YAML: {exc.problem or exc}{context}", file=file, line=line) from None
    except yaml.YAMLError as exc:
        raise ConfigError.single(f"malformed YAML: {exc}", file=file) from None
    finally:
        loader.dispose()
    if node is None:
        raise ConfigError.single("file is empty; expected a YAML mapping", file=file, line=1)
    lines: LineMap = {}
    problems: list[Problem] = []
    data = _node_to_data(node, loader, (), lines, problems, file)
    if problems:
        raise ConfigError(problems)
    if not isinstance(data, Mapping):
        raise ConfigError.single(f"expected a YAML mapping at top level, got {type(data).__name__}", file=file,
                                 line=1)
    return data, lines


def load_yaml(path: str | Path) -> tuple[Any, LineMap]:
    """Read and parse a YAML file. A missing file is a ConfigError naming it."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError.single("file not found", file=str(path)) from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise ConfigError.single(f"cannot read file: {exc}", file=str(path)) from None
    return load_yaml_text(text, str(path))


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
