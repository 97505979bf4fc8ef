"""Key paths into a resolved configuration: parse, get and set, with errors that list valid keys.

A configuration is a plain mapping ``{"hardware": {...}, "workload": {...}, "backend": "auto"}``
(each part a pydantic ``model_dump(mode="json")``). Paths are written from the user's view:
``hw.memory.hbm.bandwidth_bytes_per_s`` -> ``("hardware", "memory", "hbm", "bandwidth_bytes_per_s")``,
``workload.phases[0].seq_len`` -> ``("workload", "phases", 0, "seq_len")``,
``algorithm.attention`` -> ``("workload", "algorithm", "attention")``, ``backend`` -> ``("backend",)``.
Setting a path never creates a key: a typo is an error, not a silently ignored new field.
"""

from __future__ import annotations

import re
from typing import Any

Path = tuple[Any, ...]

_ROOTS: dict[str, Path] = {
    "hw": ("hardware",),
    "hardware": ("hardware",),
    "workload": ("workload",),
    "algorithm": ("workload", "algorithm"),
    "backend": ("backend",),
    "serving": ("serving",),
}
_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


class PathError(ValueError):
    """A key path that does not exist in the configuration (message lists the valid keys)."""


def parse_path(text: str) -> Path:
    """``"hw.memory.hbm.bandwidth_bytes_per_s"`` -> ``("hardware", "memory", "hbm", "bandwidth_bytes_per_s")``."""
    parts: list[Any] = []
    pos = 0
    expect_key = True
    while pos < len(text):
        if text[pos] == "." and not expect_key and pos + 1 < len(text):
            pos += 1
            expect_key = True
            continue
        match = _TOKEN.match(text, pos)
        if match is None or (match.group(1) is not None and not expect_key):
            raise PathError(f"malformed key path {text!r} at character {pos + 1}")
        parts.append(match.group(1) if match.group(1) is not None else int(match.group(2)))
        pos = match.end()
        expect_key = False
    if not parts or not isinstance(parts[0], str):
        raise PathError(f"malformed key path {text!r}")
    root = parts[0]
    if root not in _ROOTS:
        raise PathError(f"key path {text!r} must start with one of: {', '.join(_ROOTS)}")
    if root == "backend" and len(parts) > 1:
        raise PathError("'backend' has no sub-keys")
    return _ROOTS[root] + tuple(parts[1:])


def format_path(path: Path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _step(node: Any, part: Any, done: Path) -> Any:
    where = format_path(done) or "<config>"
    if isinstance(part, int):
        if not isinstance(node, list):
            raise PathError(f"{where} is not a list (it is {type(node).__name__}); cannot index [{part}]")
        if not 0 <= part < len(node):
            raise PathError(f"{where} has {len(node)} entries; index [{part}] is out of range")
        return node[part]
    if not isinstance(node, dict):
        kind = "null (unset in the base config)" if node is None else type(node).__name__
        raise PathError(f"{where} is {kind}; it has no key {part!r}")
    if part not in node:
        raise PathError(f"{where} has no key {part!r}; valid keys: {', '.join(map(str, node))}")
    return node[part]


def get_path(config: dict[str, Any], path: Path) -> Any:
    node: Any = config
    for i, part in enumerate(path):
        node = _step(node, part, path[:i])
    return node


def set_path(config: dict[str, Any], path: Path, value: Any) -> None:
    """Set ``value`` at ``path`` in place; every key on the way (and the last) must exist."""
    node: Any = config
    for i, part in enumerate(path[:-1]):
        node = _step(node, part, path[:i])
    _step(node, path[-1], path[:-1])
    node[path[-1]] = value
