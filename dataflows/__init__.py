"""How operators are scheduled onto hardware: einsum cascades, task graphs, a player.

Importing this package registers the attention dataflows it adds to
``archsim.schemas.workload.ATTENTION_DATAFLOWS`` (all keep the score matrix on chip):
``flat``, ``fusemax``, ``edge_moe``, ``swat``, ``flash_decoding``; and the ``taskgraph``
backend (:mod:`dataflows.backend`) that ``archsim run`` picks for ``family: accelerator``.
"""

from __future__ import annotations

from archsim.schemas.workload import ATTENTION_DATAFLOWS, register_attention_dataflow

DATAFLOWS_ADDED = ("flat", "fusemax", "edge_moe", "swat", "flash_decoding")

for _name in DATAFLOWS_ADDED:
    if _name not in ATTENTION_DATAFLOWS:
        register_attention_dataflow(_name, fused=True)

# the ``taskgraph`` backend for ``family: accelerator`` (imported here: archsim.backends loads ``dataflows``)
from archsim.dataflows import backend as _backend  # noqa: E402,F401
