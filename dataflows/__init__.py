"""How operators are scheduled onto hardware: einsum cascades, task graphs, a player.

The attention algorithms scheduled here are the ones of :mod:`archsim.algorithms` (the registry
below the schemas): ``fusemax`` and ``flat`` on a 2-D + 1-D array (:mod:`.array_attention`),
the rest by the generic tiled planner (:mod:`.generic`). The ``taskgraph`` backend
(:mod:`.backend`) that ``archsim run`` picks for ``family: accelerator`` plays them on the engine.
Importing this package changes nothing elsewhere.
"""
