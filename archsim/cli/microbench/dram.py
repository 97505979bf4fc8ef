"""``archsim microbench dram``: achieved vs peak bandwidth of one DRAM standard, with the reasons.

Runs the cycle-exact controller (``Dram.run_pattern``) and prints JSON: achieved and peak
bytes/s, row-hit rate, command counts, energy, and the analytic bounds that explain the gap
(data bus, activation rate under tRRD_S / tFAW, bank cycling under tRC, refresh, channels
touched by the pattern, tCCD_L when a unit's bursts all fall in one bank group).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer

from archsim.cli.flags import output_file
from archsim.limits import MAX_MICROBENCH_DRAM_BYTES


def bounds(std, pattern: str, stride_bytes: int, units_touched: int, mapping: str) -> dict[str, float]:
    """Upper bounds in bytes/s for the pattern, from the timing parameters alone."""
    from archsim.engine.dram_mapping import AddressMapping

    t = std.timing
    bb, units, tck = std.burst_bytes, std.units, t.tck_s
    peak = std.peak_bandwidth_bytes_per_s
    act_interval = max(t.nRRD_S, t.nFAW / 4)  # cycles per ACT per unit
    refresh_share = (t.nRFC / t.nREFI) if t.refresh == "all_bank" else 0.0
    out = {"data_bus": peak, "refresh_all_bank": peak * (1 - refresh_share),
           "units_touched": peak * units_touched / units}
    if pattern in ("stream", "strided"):
        amap = AddressMapping.build(std, mapping)
        step = stride_bytes or (4 * std.burst_bytes if pattern == "strided" else std.burst_bytes)
        groups = {(u, b // std.organisation.banks_per_group)
                  for u, b, _, _ in (amap.decode(i * step) for i in range(4096))}
        per_unit = len(groups) / max(1, len({u for u, _ in groups}))
        if per_unit == 1:  # every burst of a unit in one bank group: column commands tCCD_L apart
            out["one_bank_group_tCCD_L"] = peak * units_touched / units * t.nBL / t.nCCD_L
    if pattern == "random":
        out["act_rate_tRRD_tFAW"] = units * bb / (act_interval * tck)
        out["bank_cycle_tRC"] = units * std.banks * std.organisation.ranks * bb / ((t.nRAS + t.nRP) * tck)
    return out


def register(app: typer.Typer) -> None:
    @app.command("dram")
    def dram_bench(
        preset: str = typer.Option("hbm3", help="memory standard preset (hbm3, hbm2, ddr4, gddr6, lpddr5) or YAML"),
        pattern: str = typer.Option("stream", help="stream | random | strided"),
        nbytes: str = typer.Option("64 MiB", "--bytes", help="bytes to move, e.g. 64MiB"),
        write: bool = typer.Option(False, help="writes instead of reads"),
        stride: str = typer.Option("0", help="strided: bytes between bursts (default 4 bursts)"),
        queue_depth: int = typer.Option(64, help="requests per (pseudo-)channel queue", min=1, max=4096),
        inflight: int = typer.Option(0, help="max bursts in flight (0: channels x queue depth)", min=0, max=2**20),
        mapping: str = typer.Option("RoBaCoBgPcCh", help="address mapping scheme"),
        page_policy: str = typer.Option("open", help="open | closed"),
        seed: int = typer.Option(0, help="random pattern seed", min=0, max=2**63 - 1),
        trace: str = typer.Option("", help="replay this request trace instead of --pattern (DRAMsim3 '0xADDR READ "
                                  "CYCLE', Ramulator 2 'LD|ST ADDR' or 'R|W a,b,...')"),
        trace_format: str = typer.Option("auto", help="auto | dramsim3 | ramulator-loadstore | ramulator-readwrite"),
        write_policy: str = typer.Option("mixed", help="controller part: mixed | drain | drain_full | ramulator2 | "
                                                       "dramsim3"),
        scheduler: str = typer.Option("frfcfs", help="controller part: frfcfs | fcfs | dramsim3"),
        refresh: str = typer.Option("standard", help="controller part: standard | all_bank | per_bank | none"),
        command_trace: str = typer.Option("", help="write the first 100k DRAM commands as Chrome/Perfetto trace "
                                          "JSON here",
                                          callback=lambda v: v and str(output_file(create_parents=False)(Path(v)))),
    ) -> None:
        """Stream, random or strided bursts (or a peer-format trace) through one DRAM device; JSON on stdout."""
        from archsim import units
        from archsim.engine.dram import PAGE_POLICIES, Dram
        from archsim.engine.dram_mapping import SCHEMES, AddressMapping
        from archsim.errors import ConfigError
        from archsim.presets import load_memory_standard

        problems = []
        if pattern not in ("stream", "random", "strided"):
            problems.append(("--pattern", f"unknown pattern {pattern!r}; valid: stream, random, strided"))
        if mapping not in SCHEMES:
            problems.append(("--mapping", f"unknown mapping {mapping!r}; valid: {', '.join(SCHEMES)}"))
        if page_policy not in PAGE_POLICIES:
            problems.append(("--page-policy", f"unknown page policy {page_policy!r}; valid: open, closed"))
        if queue_depth < 1 or inflight < 0:
            problems.append(("--queue-depth", "queue depth must be >= 1 and --inflight >= 0"))
        try:
            size = int(units.BYTES.parse(nbytes))
            stride_b = int(units.BYTES.parse(stride)) if stride != "0" else 0
        except ValueError as exc:
            problems.append(("--bytes/--stride", str(exc)))
            size, stride_b = 0, 0
        if size > MAX_MICROBENCH_DRAM_BYTES:
            problems.append(("--bytes", f"{size} B is above the limit of {MAX_MICROBENCH_DRAM_BYTES} B "
                                        "(archsim.limits.MAX_MICROBENCH_DRAM_BYTES)"))
        if stride_b < 0 or stride_b > max(size, 0):
            problems.append(("--stride", f"stride must be from 0 to --bytes ({size} B), got {stride}"))
        from archsim.engine.dram_parts import PARTS

        chosen = {"write_policy": write_policy, "scheduler": scheduler, "refresh": refresh}
        for kind, name in chosen.items():
            if name not in PARTS[kind]:
                problems.append((f"--{kind.replace('_', '-')}", f"unknown {kind} {name!r}; valid: "
                                 f"{', '.join(PARTS[kind])}"))
        if problems:
            from archsim.errors import Problem

            raise ConfigError([Problem(msg, key_path=key) for key, msg in problems])
        std = load_memory_standard(preset)
        if trace:
            from archsim.engine.dram_trace import read_trace, run_trace

            requests = read_trace(trace, trace_format)
            wall = time.perf_counter()
            result = run_trace(std, requests, mapping=mapping, queue_depth=queue_depth, parts=chosen,
                               page_policy=page_policy)
            out = {"preset": std.name, "trace": trace, "format": requests.fmt, "requests": len(requests),
                   "mapping": mapping, "queue_depth": queue_depth, "parts": chosen, **result.summary(),
                   "peak_bytes_per_s": std.peak_bandwidth_bytes_per_s, "wall_s": time.perf_counter() - wall}
            typer.echo(json.dumps(out, indent=2))
            return
        if size < std.burst_bytes:
            raise ConfigError.single(f"--bytes must be >= one burst ({std.burst_bytes} B)", key_path="--bytes")
        wall = time.perf_counter()
        st = Dram.run_pattern(std, pattern=pattern, nbytes=size, write=write, stride_bytes=stride_b, seed=seed,
                              mapping=mapping, page_policy=page_policy, queue_depth=queue_depth,
                              max_inflight=inflight or None, log_commands=100_000 if command_trace else 0,
                              parts=chosen)
        wall = time.perf_counter() - wall
        if command_trace and st.controller is not None:
            from archsim import outfile

            trace_json = json.dumps(outfile.trace_doc(st.controller.command_trace(), "dram-command-trace"))
            outfile.write(Path(command_trace), trace_json.encode(), flag="--command-trace")
        elapsed_s = st.elapsed_cycles * std.timing.tck_s
        moved = st.bytes_read + st.bytes_written
        touched = int((st.per_unit[:, 2] + st.per_unit[:, 3] > 0).sum())
        peak = std.peak_bandwidth_bytes_per_s
        amap = AddressMapping.build(std, mapping)
        out = {
            "preset": std.name, "pattern": pattern, "write": write, "bytes": moved, "burst_bytes": std.burst_bytes,
            "mapping": amap.name, "page_policy": page_policy, "queue_depth": queue_depth,
            "simulated_s": elapsed_s,
            "achieved_bytes_per_s": moved / elapsed_s,
            "peak_bytes_per_s": peak,
            "fraction_of_peak": moved / elapsed_s / peak,
            "row_hit_rate": st.row_hit_rate,
            "commands": st.counters,
            "energy_j": st.energy_j,
            "energy_pj_per_bit": st.energy_j / (8 * moved) * 1e12,
            "units_touched": touched,
            "bounds_bytes_per_s": bounds(std, pattern, stride_b, touched, mapping),
            "wall_s": wall,
            "bursts_per_wall_s": (st.counters["rd"] + st.counters["wr"]) / wall,
        }
        typer.echo(json.dumps(out, indent=2))
