"""Parameter sweeps: expand a sweep YAML into points, run them locally or on Ray, keep a results table.

``run_sweep(SWEEP.yaml, DIR)`` is what ``archsim sweep`` calls; ``load_plan(SWEEP.yaml)`` gives
the expanded points without running them. See :mod:`archsim.schemas.sweep` for the file format.
"""

from archsim.sweep.plan import Plan, Point, load_plan
from archsim.sweep.runner import SweepSummary, run_sweep

__all__ = ["Plan", "Point", "SweepSummary", "load_plan", "run_sweep"]
