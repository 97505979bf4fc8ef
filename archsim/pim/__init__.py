"""Processing-in-memory models.

- :mod:`archsim.pim.device`, :mod:`archsim.pim.commands`, :mod:`archsim.pim.gemv`: bank-level
  DRAM PIM (SK hynix AiM, Samsung HBM2-PIM): the project's GEMV mapping, cycle-exact command
  streams on the engine's DRAM timing gates, energy, and functional execution with numba.
- :mod:`archsim.pim.backend`: the ``pim`` backend of ``archsim run`` for family ``pim``.
- :mod:`archsim.pim.pimgpt`: the PIM-GPT system (GDDR6-PIM channels + an ASIC).
- :mod:`archsim.pim.logic_die`, :mod:`archsim.pim.duplex`: logic-die PIM and Duplex's
  Op/B-based co-processing policy.
"""
