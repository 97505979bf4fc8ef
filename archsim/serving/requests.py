"""Requests and where they come from: arrival processes, prompt/output length distributions, trace files.

Times are seconds from the start of the run; lengths are tokens. Every random draw comes from one
``numpy.random.Generator`` (the engine's, seeded), in a fixed order (all arrival gaps, then all prompt
lengths, then all output lengths), so a seed fixes the whole request list.

Arrivals:
- ``poisson``: exponential gaps with mean 1/QPS (coefficient of variation 1).
- ``gamma``: gamma gaps with mean 1/QPS and coefficient of variation ``cv`` (shape 1/cv^2): cv > 1 is
  bursty, cv < 1 smoother than Poisson, cv = 1 is Poisson.
- a trace CSV whose header names ``arrival_s,prompt_tokens,output_tokens`` (one request a line; other
  columns are ignored).

Lengths (``fixed``, ``uniform`` [low, high] inclusive, ``lognormal`` with median and sigma of the
underlying normal, clipped to [1, max_tokens]). ``output_tokens`` counts every generated token,
the first one (produced by the prefill) included.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from archsim import limits
from archsim.errors import ConfigError, Problem


@dataclass(eq=False)
class Request:
    """One request and its progress. ``token_times_s`` holds the time each output token was emitted."""

    rid: int
    arrival_s: float
    prompt_tokens: int
    output_tokens: int
    prefill_target: int = 0  # tokens to (re)compute before the next token: prompt, plus generated after a preemption
    prefilled: int = 0  # tokens of prefill_target already in the KV cache
    generated: int = 0
    cached_tokens: int = 0  # tokens whose K/V sit in the cache now
    preemptions: int = 0
    swaps: int = 0  # preemptions by swap (counted in ``preemptions`` too)
    token_times_s: list[float] = field(default_factory=list)
    finish_s: float | None = None

    def __post_init__(self) -> None:
        if not self.prefill_target:
            self.prefill_target = self.prompt_tokens

    @property
    def in_prefill(self) -> bool:
        return self.prefilled < self.prefill_target

    @property
    def done(self) -> bool:
        return self.generated >= self.output_tokens

    @property
    def max_tokens(self) -> int:
        """Tokens this request's KV cache holds at its largest (prompt + every output token but the last)."""
        return self.prompt_tokens + self.output_tokens - 1

    def emit(self, now_s: float) -> None:
        self.generated += 1
        self.token_times_s.append(now_s)
        if self.done:
            self.finish_s = now_s


@dataclass(frozen=True, kw_only=True)
class Lengths:
    """A token-length distribution: ``fixed`` (value), ``uniform`` (low..high) or ``lognormal`` (median, sigma)."""

    kind: str = "fixed"
    value: int = 0
    low: int = 0
    high: int = 0
    median: float = 0.0
    sigma: float = 0.0
    max_tokens: int = limits.MAX_SEQ_LEN

    KINDS = ("fixed", "uniform", "lognormal")

    def __post_init__(self) -> None:
        bad = {"fixed": self.value < 1, "uniform": not 1 <= self.low <= self.high,
               "lognormal": not (self.median >= 1 and self.sigma >= 0)}
        if self.kind not in bad:
            raise ConfigError.single(f"length distribution {self.kind!r} is not one of {', '.join(self.KINDS)}",
                                     key_path="kind")
        if bad[self.kind] or self.max_tokens < 1:
            raise ConfigError.single(f"{self.kind} lengths need " + {
                "fixed": "value >= 1", "uniform": "1 <= low <= high", "lognormal": "median >= 1 and sigma >= 0"}[
                self.kind] + f" (got {self})", key_path=self.kind)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        if self.kind == "fixed":
            out = np.full(n, self.value, dtype=np.int64)
        elif self.kind == "uniform":
            out = rng.integers(self.low, self.high + 1, size=n)
        else:
            out = np.rint(rng.lognormal(math.log(self.median), self.sigma, size=n)).astype(np.int64)
        return np.clip(out, 1, self.max_tokens)


@dataclass(frozen=True, kw_only=True)
class Arrivals:
    """Arrivals at ``qps`` requests per second: ``poisson``, or ``gamma`` gaps with coefficient of variation ``cv``."""

    kind: str = "poisson"
    qps: float = 1.0
    cv: float = 1.0

    KINDS = ("poisson", "gamma")

    def __post_init__(self) -> None:
        if self.kind not in self.KINDS:
            raise ConfigError.single(f"arrival process {self.kind!r} is not one of {', '.join(self.KINDS)}",
                                     key_path="arrivals")
        if not (math.isfinite(self.qps) and self.qps > 0 and math.isfinite(self.cv) and self.cv > 0):
            raise ConfigError.single(f"arrivals need qps > 0 and cv > 0 (got qps={self.qps}, cv={self.cv})",
                                     key_path="arrivals")

    def times(self, rng: np.random.Generator, duration_s: float) -> np.ndarray:
        """Arrival times in [0, duration_s): the first arrival one gap after 0."""
        mean_gap = 1.0 / self.qps
        chunk = max(16, int(duration_s * self.qps * 1.2) + 16)
        gaps: list[np.ndarray] = []
        total = 0.0
        while total < duration_s:
            if self.kind == "poisson":
                g = rng.exponential(mean_gap, size=chunk)
            else:
                shape = 1.0 / self.cv ** 2
                g = rng.gamma(shape, mean_gap / shape, size=chunk)
            gaps.append(g)
            total += float(g.sum())
        t = np.cumsum(np.concatenate(gaps))
        return t[t < duration_s]


def generate(arrivals: Arrivals, prompt: Lengths, output: Lengths, duration_s: float,
             rng: np.random.Generator) -> list[Request]:
    """Requests arriving in [0, duration_s) with lengths drawn from ``prompt`` and ``output``."""
    times = arrivals.times(rng, duration_s)
    p = prompt.sample(rng, len(times))
    o = output.sample(rng, len(times))
    return [Request(i, float(t), int(a), int(b)) for i, (t, a, b) in enumerate(zip(times, p, o, strict=True))]


TRACE_COLUMNS = ("arrival_s", "prompt_tokens", "output_tokens")


def read_trace(path: str | Path, *, max_requests: int = 10_000_000) -> list[Request]:
    """Requests from a CSV whose header names ``arrival_s,prompt_tokens,output_tokens`` (in any order, other
    columns ignored: a measured run's request table reads as is); every bad line is reported."""
    path = Path(path)
    problems: list[Problem] = []
    rows: list[Request] = []
    try:
        fh = path.open(newline="")
    except OSError as exc:
        raise ConfigError.single(f"cannot read the trace ({exc.strerror})", file=str(path)) from None
    with fh:
        reader = csv.reader(fh)
        header = [h.strip() for h in next(reader, None) or []]
        if not set(TRACE_COLUMNS) <= set(header):
            raise ConfigError.single(f"the header must name {','.join(TRACE_COLUMNS)} (other columns are ignored; "
                                     f"got {','.join(header) or 'nothing'})", file=str(path), line=1)
        where = [header.index(c) for c in TRACE_COLUMNS]
        for line, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(rows) >= max_requests:
                raise ConfigError.single(f"more than {max_requests} requests", file=str(path), line=line)
            if len(row) != len(header):
                problems.append(Problem(f"expected {len(header)} values, got {len(row)}", file=str(path), line=line))
                continue
            try:
                t, a, b = float(row[where[0]]), int(row[where[1]]), int(row[where[2]])
            except ValueError:
                problems.append(Problem(f"not numbers: {row}", file=str(path), line=line))
                continue
            key, bad = next(((k, v) for k, v in (("arrival_s", not (math.isfinite(t) and t >= 0)),
                                                 ("prompt_tokens", not 1 <= a <= limits.MAX_SEQ_LEN),
                                                 ("output_tokens", not 1 <= b <= limits.MAX_SEQ_LEN)) if v),
                            ("", False))
            if bad:
                problems.append(Problem(f"{key} out of range ({row})", file=str(path), line=line, key_path=key))
                continue
            if rows and t < rows[-1].arrival_s:
                problems.append(Problem(f"arrival_s {t} is before the previous line's {rows[-1].arrival_s}",
                                        file=str(path), line=line, key_path="arrival_s"))
                continue
            rows.append(Request(len(rows), t, a, b))
    if problems:
        raise ConfigError(problems)
    if not rows:
        raise ConfigError.single("the trace holds no requests", file=str(path))
    return rows
