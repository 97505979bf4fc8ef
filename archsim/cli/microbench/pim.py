"""``archsim microbench pim``: one PIM GEMV on the command model — achieved vs peak, where time goes."""

from __future__ import annotations

import typer

from archsim.cli import flags

#: GEMV sides for the cycle-exact PIM model and its numpy check (an m x n fp32 matrix is built):
#: 32 Ki x 32 Ki is 4 GiB of fp32 (the largest shipped model's hidden size is 8 Ki).
MAX_PIM_DIM = 2**15


def register(app: typer.Typer) -> None:
    @app.command("pim")
    def pim_bench(
        preset: str = typer.Option("aim-gddr6", help="bank-level PIM hardware preset"),
        op: str = typer.Option("gemv", help="operation (gemv)", callback=flags.choice(("gemv",))),
        m: int = typer.Option(4096, help="matrix rows (outputs)", min=1, max=MAX_PIM_DIM),
        n: int = typer.Option(4096, help="matrix columns (input vector length)", min=1, max=MAX_PIM_DIM),
        check: bool = typer.Option(True, help="also run the functional model on random data and compare to numpy"),
    ) -> None:
        """Time one GEMV y = W x (W m x n) on a bank-level PIM preset, cycle-exact on the DRAM gates."""
        import numpy as np

        from archsim import presets
        from archsim.errors import ConfigError
        from archsim.pim import device, gemv

        if op != "gemv":
            raise ConfigError.single(f"unknown op {op!r}; valid: gemv", key_path="--op")
        if m < 1 or n < 1:
            raise ConfigError.single("--m and --n must be >= 1", key_path="--m/--n")
        hw = presets.load_hardware(preset)
        if getattr(hw, "family", None) != "pim":
            raise ConfigError.single(f"{preset!r} is not a pim preset (family {hw.family!r})", key_path="--preset")
        pim = device.resolve(hw)
        r = gemv.timed(pim, m, n)
        t = pim.std.timing
        typer.echo(f"{hw.name}: GEMV {m} x {n} ({pim.pim.pim_dtype}), {pim.pim.channels} channels x "
                   f"{pim.pim.units_per_channel} units x {pim.pim.lanes_per_unit} lanes @ "
                   f"{pim.pim.pim_clock_hz/1e9:.3g} GHz; "
                   f"timing {pim.std.name} (tCK {t.tck_s*1e9:.3g} ns, tRCD {t.nRCD}, tRP {t.nRP}, tCCD_L {t.nCCD_L}, "
                   f"tFAW {t.nFAW})")
        typer.echo(f"time            {r.time_s*1e6:10.3f} us  ({r.cycles} tCK)")
        typer.echo(f"achieved        {r.achieved_flops_per_s/1e9:10.1f} GFLOP/s")
        share = 100 * r.achieved_flops_per_s / r.peak_flops_per_s
        typer.echo(f"peak (compute)  {r.peak_flops_per_s/1e9:10.1f} GFLOP/s  -> {share:.1f}% of peak")
        typer.echo(f"peak (rows open){pim.streaming_flops_per_s/1e9:10.1f} GFLOP/s  "
                   f"(one MAC per {pim.mac_interval_cycles} tCK: "
                   f"max(unit {pim.mac_gap_cycles}, tCCD_L {t.nCCD_L}))")
        typer.echo(f"row activation  {100*r.row_activation_share:10.1f} % of time "
                   "(ACTab/PREab gaps: tRCD, tRAS, tRP, tFAW)")
        for k in ("mac_stream", "vector_in", "results_out", "refresh"):
            typer.echo(f"  {k:<14}{100*r.time_share[k]:10.1f} %")
        typer.echo("commands/channel " + ", ".join(f"{k} {v}" for k, v in r.counts.items()))
        typer.echo(f"energy          {r.energy_j*1e6:10.3f} uJ  ("
                   + ", ".join(f"{k} {100*v/r.energy_j:.0f}%" for k, v in r.energy_by_part.items()) + ")")
        if check:
            rng = np.random.default_rng(0)
            w = rng.standard_normal((m, n), dtype=np.float32)
            x = rng.standard_normal(n, dtype=np.float32)
            y, _ = gemv.execute(pim, w, x)
            ref = gemv.round_to(pim.pim.pim_dtype, w).astype(np.float64) @ gemv.round_to(pim.pim.pim_dtype, x)
            err = float(np.max(np.abs(y - ref)) / max(1e-30, float(np.max(np.abs(ref)))))
            typer.echo(f"functional      max rel. error vs numpy (same {pim.pim.pim_dtype} inputs, fp64): {err:.2e}")
