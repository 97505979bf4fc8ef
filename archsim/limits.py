"""Stated limits on untrusted input: every bound archsim puts on a file, an expression or a size.

One module, so that the YAML loader, the sweep planner, the schemas and the CLI flags refuse
the same things with the same numbers, and a user can read what archsim accepts. Each limit
is far above anything a shipped preset, workload or sweep uses (the figure in the comment),
and low enough that an input at the limit is checked in about a second on one core.

A value beyond a limit is refused with a message that names the limit; nothing is truncated
or clamped silently.
"""

# --- YAML files (archsim.yamlio) -------------------------------------------------------------
#: Bytes read from one YAML file; a larger file is refused before it is parsed (largest shipped: ~10 KiB).
MAX_YAML_BYTES = 4 * 2**20
#: Nesting depth of mappings and sequences in one document (shipped: 6).
MAX_YAML_DEPTH = 64
#: Values built from one document, every alias expansion counted again (shipped: < 2,000).
#: An alias bomb ("billion laughs") reaches this after a few thousand steps and is refused.
MAX_YAML_NODES = 200_000
#: Alias uses (``*name``) in one document (shipped: 0).
MAX_YAML_ALIASES = 1_000
#: Magnitude of an integer written in YAML (int64 range); a 400-digit number is refused, not overflowed.
MAX_YAML_INT = 2**63 - 1
#: Files one load may follow through references (a system naming devices naming memory standards).
MAX_REFERENCE_DEPTH = 8

# --- sweeps (archsim.sweep) ------------------------------------------------------------------
#: Points of one sweep, counted from its axes before any point is built (shipped: <= 512).
MAX_SWEEP_POINTS = 100_000
#: Characters of one derive/constraint expression.
MAX_EXPRESSION_CHARS = 1_000
#: Bits of any integer an expression computes (2**256 is ~1.2e77).
MAX_EXPRESSION_INT_BITS = 256
#: Characters of any string an expression computes.
MAX_EXPRESSION_STR_CHARS = 10_000

# --- sizes in workloads and CLI flags --------------------------------------------------------
#: Tokens of one sequence (seq_len, seq_q, seq_kv, context_len; 16 Mi; longest shipped: 4,096).
MAX_SEQ_LEN = 2**24
#: Sequences in one batch (1 Mi).
MAX_BATCH = 2**20
#: Attention heads (query or key/value) of one layer.
MAX_HEADS = 2**16
#: Head dimension, GEMM m/n/k, hidden and FFN sizes (16 Mi).
MAX_DIM = 2**24
#: Repeat count of one operator, decode steps, layers of a model (1 Mi).
MAX_COUNT = 2**20
#: Bytes ``archsim microbench dram --bytes`` may move through the event-driven DRAM model
#: (~1 M bursts per CPU-second: 4 GiB of 64 B bursts is about a minute).
MAX_MICROBENCH_DRAM_BYTES = 4 * 2**30
#: Parallel workers of ``archsim sweep --workers`` (a process pool or Ray actors; 1,024 is eight
#: 128-core hosts, well past any local pool: each worker holds a Python process of ~180 MB).
MAX_SWEEP_WORKERS = 1024
#: Seconds between ``archsim sweep`` checkpoints of results.parquet (an hour: a kill loses at most that).
MAX_CHECKPOINT_S = 3600.0

