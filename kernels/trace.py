"""Op-count tracer for Triton kernels run through the interpreter, and the :class:`KernelTrace`.

The tracer wraps methods of the interpreter's builder (``triton.runtime.interpreter.
interpreter_builder``) for the duration of one launch and counts, per program:

- ``matmul_flops``: ``2 * M * N * K`` per ``tl.dot`` on the operand tile shapes (padding
  included: a masked-off row still goes through the MMA);
- ``elementwise_flops``: one per element of float add, sub, mul, div, min, max; two per fma;
  ``n - 1`` per reduced output of a float sum/max/min reduction (``tl.sum``/``tl.max``).
  Integer index arithmetic, compares, selects and casts are not FLOPs and are not counted;
- ``transcendentals``: one per element of exp, exp2, log, log2, sqrt, rsqrt, sin, cos, erf;
- ``bytes_loaded``/``bytes_stored``: element size times the lanes whose mask is true, i.e.
  global-memory requests as the kernel issues them. Whether they hit L2 or DRAM on a real GPU
  is the GPU model's business, not the tracer's.

Because the interpreter runs one program at a time and is slow, a launch may declare which
programs do identical work (``Launch.class_key`` and ``Launch.uniform_axes``); the tracer
then runs one representative per class and scales by the class size. ``trace_launch(...,
full=True)`` runs every program instead; tests check both agree.

Private API: this module touches ``interpreter_builder``'s ``create_*`` methods and
``ReduceOps.apply``; it is checked on triton 3.6 and 3.9 (see :mod:`kernels.runtime`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

COUNT_KEYS = ("matmul_flops", "elementwise_flops", "reduction_flops", "transcendentals",
              "bytes_loaded", "bytes_stored")

_FLOAT_BINARY = ("create_fadd", "create_fsub", "create_fmul", "create_fdiv", "create_precise_divf",
                 "create_minimumf", "create_maximumf", "create_minnumf", "create_maxnumf")
_TRANSCENDENTAL = ("create_exp", "create_exp2", "create_log", "create_log2", "create_sqrt",
                   "create_precise_sqrt", "create_rsqrt", "create_sin", "create_cos", "create_erf")

Program = tuple[int, int, int]


def _zero() -> dict[str, int]:
    return dict.fromkeys(COUNT_KEYS, 0)


@dataclass(frozen=True, kw_only=True)
class Launch:
    """One kernel launch, described so it can be run normally or under the tracer.

    ``class_key(program) -> hashable``: programs with equal keys do identical work (same
    counts). ``uniform_axes``: grid axes along which every program does identical work (e.g.
    the batch*head axis of attention); the tracer only walks index 0 of those and scales.
    """

    name: str
    kernel: Any
    grid: tuple[int, ...]
    args: tuple
    kwargs: dict
    block_sizes: dict[str, int]
    num_warps: int
    num_stages: int
    uniform_axes: tuple[int, ...] = ()
    class_key: Callable[[Program], Hashable] | None = None

    @property
    def grid3(self) -> Program:
        g = tuple(self.grid) + (1,) * (3 - len(self.grid))
        return (int(g[0]), int(g[1]), int(g[2]))

    def run(self) -> None:
        """Launch normally (compiled on CUDA tensors, or interpreted under TRITON_INTERPRET=1)."""
        self.kernel[self.grid](*self.args, num_warps=self.num_warps, num_stages=self.num_stages, **self.kwargs)


@dataclass(frozen=True, kw_only=True)
class LaunchTrace:
    """Counts of one launch: totals, and per-program counts for the representatives traced."""

    name: str
    grid: tuple[int, int, int]
    block_sizes: dict[str, int]
    num_warps: int
    num_stages: int
    totals: dict[str, int]
    programs: tuple[dict, ...]  # {"program": [x, y, z], "weight": n, "counts": {...}}
    programs_traced: int
    programs_total: int
    scale_rule: str

    def to_dict(self) -> dict:
        return {"name": self.name, "grid": list(self.grid), "block_sizes": dict(self.block_sizes),
                "num_warps": self.num_warps, "num_stages": self.num_stages, "totals": dict(self.totals),
                "programs": [dict(p) for p in self.programs], "programs_traced": self.programs_traced,
                "programs_total": self.programs_total, "scale_rule": self.scale_rule}


@dataclass(frozen=True, kw_only=True)
class KernelTrace:
    """What a kernel executes, for the GPU model: launches, grid, blocks and op/byte counts.

    Units: FLOPs and bytes (integers). ``flops = matmul_flops + elementwise_flops`` (reduction
    FLOPs are inside ``elementwise_flops`` and also shown alone); ``transcendentals`` are
    counted apart (special-function units). ``executed`` counts are what the hardware runs,
    padding and masked-off tile lanes included; ``useful`` holds the work a dense reference
    would need (from the kernel's analytic rule, see its module), where it differs.
    ``grid``/``block_sizes``/``num_warps``/``num_stages`` describe the main (first) launch;
    ``launches`` lists every launch (flash-decoding has two).
    """

    kernel: str
    dtype: str
    shape: dict[str, Any]
    launches: tuple[LaunchTrace, ...]
    useful: dict[str, int] = field(default_factory=dict)

    @property
    def totals(self) -> dict[str, int]:
        out = _zero()
        for launch in self.launches:
            for key in COUNT_KEYS:
                out[key] += launch.totals[key]
        return out

    @property
    def grid(self) -> tuple[int, int, int]:
        return self.launches[0].grid

    @property
    def flops(self) -> int:
        t = self.totals
        return t["matmul_flops"] + t["elementwise_flops"]

    def to_dict(self) -> dict:
        main = self.launches[0]
        totals = self.totals
        return {"kernel": self.kernel, "dtype": self.dtype, "shape": dict(self.shape), "grid": list(main.grid),
                "block_sizes": dict(main.block_sizes), "num_warps": main.num_warps, "num_stages": main.num_stages,
                "flops": self.flops, **totals, "useful": dict(self.useful),
                "launches": [launch.to_dict() for launch in self.launches]}


class _Recorder:
    """Builder wrappers that add to the counts of the program currently running."""

    def __init__(self) -> None:
        self.per_program: dict[Program, dict[str, int]] = {}
        self.current: dict[str, int] = _zero()
        self.suspended = 0  # >0 inside a reduction: its combine_fn's ops are counted by the reduction rule

    def add(self, key: str, n: int) -> None:
        if not self.suspended:
            self.current[key] += int(n)

    def start_program(self, program: Program) -> None:
        self.current = self.per_program.setdefault(program, _zero())


def _elem_bytes(ptr_handle: Any) -> int:
    return int(ptr_handle.get_element_ty().primitive_bitwidth) // 8


def _mask_count(mask_handle: Any, shape: tuple[int, ...]) -> int:
    return int(np.count_nonzero(np.broadcast_to(np.asarray(mask_handle.data, dtype=bool), shape)))


@contextmanager
def _instrumented(rec: _Recorder, real_grid: Program, programs: Sequence[Program] | None) -> Iterator[None]:
    """Patch the interpreter's builder and ReduceOps so that ops are counted into ``rec``.

    With ``programs`` given, the launch must use grid ``(len(programs), 1, 1)``: program ``i``
    of that proxy launch is made to see ``program_id == programs[i]`` and ``num_programs ==
    real_grid``, so exactly the chosen programs run.
    """
    from triton.runtime import interpreter as interp

    builder = interp.interpreter_builder
    originals: dict[str, Any] = {}

    def patch(name: str, wrapper: Callable) -> None:
        originals[name] = getattr(builder, name)
        setattr(builder, name, wrapper)

    def wrap_binary(orig: Callable) -> Callable:
        def wrapped(lhs: Any, rhs: Any) -> Any:
            out = orig(lhs, rhs)
            rec.add("elementwise_flops", np.asarray(out.data).size)
            return out
        return wrapped

    def wrap_unary(orig: Callable) -> Callable:
        def wrapped(arg: Any, *rest: Any) -> Any:
            out = orig(arg, *rest)
            rec.add("transcendentals", np.asarray(out.data).size)
            return out
        return wrapped

    for name in _FLOAT_BINARY:
        if hasattr(builder, name):
            patch(name, wrap_binary(getattr(builder, name)))
    for name in _TRANSCENDENTAL:
        if hasattr(builder, name):
            patch(name, wrap_unary(getattr(builder, name)))

    orig_fma = builder.create_fma

    def fma(x: Any, y: Any, z: Any) -> Any:
        out = orig_fma(x, y, z)
        rec.add("elementwise_flops", 2 * np.asarray(out.data).size)
        return out

    patch("create_fma", fma)
    orig_dot = builder.create_dot

    def dot(a: Any, b: Any, d: Any, *rest: Any) -> Any:
        a_shape, b_shape = np.shape(a.data), np.shape(b.data)
        m, k = a_shape[-2], a_shape[-1]
        n = b_shape[-1]
        batch = int(np.prod(a_shape[:-2])) if len(a_shape) > 2 else 1
        rec.add("matmul_flops", 2 * batch * m * n * k)
        return orig_dot(a, b, d, *rest)

    patch("create_dot", dot)
    orig_load = builder.create_masked_load

    def masked_load(ptrs: Any, mask: Any, other: Any, *rest: Any) -> Any:
        shape = np.shape(ptrs.data)
        rec.add("bytes_loaded", _elem_bytes(ptrs) * _mask_count(mask, shape))
        return orig_load(ptrs, mask, other, *rest)

    patch("create_masked_load", masked_load)
    orig_store = builder.create_masked_store

    def masked_store(ptrs: Any, value: Any, mask: Any, *rest: Any) -> Any:
        shape = np.shape(ptrs.data)
        rec.add("bytes_stored", _elem_bytes(ptrs) * _mask_count(mask, shape))
        return orig_store(ptrs, value, mask, *rest)

    patch("create_masked_store", masked_store)
    orig_set_idx, orig_set_dim = builder.set_grid_idx, builder.set_grid_dim

    def set_grid_dim(nx: int, ny: int, nz: int) -> None:
        orig_set_dim(*real_grid) if programs is not None else orig_set_dim(nx, ny, nz)

    def set_grid_idx(x: int, y: int, z: int) -> None:
        program = programs[x] if programs is not None else (x, y, z)
        orig_set_idx(*program)
        rec.start_program(program)

    patch("set_grid_dim", set_grid_dim)
    patch("set_grid_idx", set_grid_idx)

    orig_reduce_apply = interp.ReduceOps.apply

    def reduce_apply(self: Any, input: Any) -> Any:
        tensors = input if isinstance(input, tuple) else (input,)
        first = tensors[0]
        shape = tuple(np.shape(first.handle.data))
        axis = self.axis
        n = int(np.prod(shape)) if axis is None else shape[axis]
        outputs = 1 if axis is None else int(np.prod(shape)) // max(n, 1)
        if first.dtype.is_floating():
            rec.add("reduction_flops", outputs * (n - 1))
            rec.add("elementwise_flops", outputs * (n - 1))
        rec.suspended += 1
        try:
            return orig_reduce_apply(self, input)
        finally:
            rec.suspended -= 1

    interp.ReduceOps.apply = reduce_apply
    try:
        yield
    finally:
        interp.ReduceOps.apply = orig_reduce_apply
        for name in originals:
            delattr(builder, name)  # the wrappers are instance attributes over the class methods


def _representatives(launch: Launch) -> list[tuple[Program, int]]:
    """One program per class of identical work, with the number of programs it stands for."""
    grid = launch.grid3
    ranges = [range(1) if axis in launch.uniform_axes else range(grid[axis]) for axis in range(3)]
    uniform_weight = int(np.prod([grid[a] for a in launch.uniform_axes])) if launch.uniform_axes else 1
    classes: dict[Hashable, list] = {}
    for program in itertools.product(*ranges):
        key = launch.class_key(program) if launch.class_key is not None else program
        entry = classes.setdefault(key, [program, 0])
        entry[1] += 1
    return [(program, count * uniform_weight) for program, count in classes.values()]


def trace_launch(launch: Launch, *, full: bool = False) -> LaunchTrace:
    """Run ``launch`` in the interpreter and count its ops (see the module docstring).

    ``full=True`` runs every program of the grid; otherwise one representative per class.
    """
    from archsim.kernels.runtime import install_interpreter_compat, interpret_mode, triton_version_supported

    if not interpret_mode():
        raise RuntimeError("tracing needs the Triton interpreter: set TRITON_INTERPRET=1 before importing triton "
                           "(kernels.trace_subprocess runs it in a fresh process)")
    if not triton_version_supported():
        import triton

        raise RuntimeError(f"the tracer was checked on triton 3.6-3.9, not {triton.__version__}")
    install_interpreter_compat()
    rec = _Recorder()
    grid = launch.grid3
    if full:
        reps = [(p, 1) for p in itertools.product(*(range(g) for g in grid))]
        with _instrumented(rec, grid, None):
            launch.kernel[grid](*launch.args, **launch.kwargs)
        rule = "every program traced"
    else:
        reps = _representatives(launch)
        programs = [p for p, _ in reps]
        with _instrumented(rec, grid, programs):
            launch.kernel[(len(programs), 1, 1)](*launch.args, **launch.kwargs)
        rule = (f"one program per class of identical work, scaled by class size; uniform grid axes "
                f"{list(launch.uniform_axes)}")
    totals = _zero()
    per_program = []
    for program, weight in reps:
        counts = rec.per_program.get(program, _zero())
        for key in COUNT_KEYS:
            totals[key] += weight * counts[key]
        per_program.append({"program": list(program), "weight": weight, "counts": dict(counts)})
    return LaunchTrace(name=launch.name, grid=grid, block_sizes=dict(launch.block_sizes), num_warps=launch.num_warps,
                       num_stages=launch.num_stages, totals=totals, programs=tuple(per_program),
                       programs_traced=len(reps), programs_total=int(np.prod(grid)), scale_rule=rule)
