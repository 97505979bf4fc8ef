"""Parameter sweeps: expand a sweep YAML into points, run them locally or on Ray, keep a results table.

``archsim.sweep.runner.run_sweep(SWEEP.yaml, DIR)`` is what ``archsim sweep`` calls;
``archsim.sweep.plan.load_plan(SWEEP.yaml)`` gives the expanded points without running them. The
key-path and constraint language (:mod:`.paths`, :mod:`.expr`) sits below the schemas, which is
why this package ``__init__`` imports nothing. See :mod:`archsim.schemas.sweep` for the file format.
"""
