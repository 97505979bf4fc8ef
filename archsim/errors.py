"""Input errors that name where the problem is.

Every problem in user input (YAML files, CLI flags, preset names) becomes a :class:`Problem`
with the file, the line and the key path. A :class:`ConfigError` carries all problems found
at once, so a user fixes a file in one round; the CLI prints them and exits with code 2.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Problem:
    """One problem in user input. ``line`` is 1-based; ``key_path`` like ``memory.hbm.capacity_bytes``."""

    message: str
    file: str | None = None
    line: int | None = None
    key_path: str | None = None

    def __str__(self) -> str:
        parts = []
        if self.file:
            parts.append(self.file + (f":{self.line}" if self.line is not None else ""))
        if self.key_path:
            parts.append(self.key_path)
        return ": ".join([*parts, self.message])


@dataclass
class ConfigError(Exception):
    """Bad user input; ``problems`` lists every problem found."""

    problems: list[Problem] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)

    @classmethod
    def single(cls, message: str, *, file: str | None = None, line: int | None = None,
               key_path: str | None = None) -> ConfigError:
        return cls([Problem(message, file=file, line=line, key_path=key_path)])


class PhysicalLimitError(RuntimeError):
    """A model produced a rate above its own peak, or a preset is beyond known silicon."""
