"""``archsim serve``: simulate requests arriving at a deployment; per-request latencies and a summary."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from archsim import limits
from archsim.cli import flags
from archsim.serving import placement as placements  # names only (imports nothing heavy)

#: Requests per second above a million is a unit slip, not a load.
MAX_QPS = 1e6
#: Seconds of arrivals in one run (a day).
MAX_DURATION_S = 86_400.0
#: USD per device-hour: above 1,000 is a unit slip.
MAX_USD_PER_HOUR = 1e3
ARRIVALS = ("poisson", "gamma")
PREEMPTION = ("recompute", "swap")  # archsim.serving.continuous.PREEMPTION (not imported: keeps --help fast)


def serve(
    hardware: Annotated[str, typer.Argument(help="hardware preset or YAML: a device, a system such as hgx-h100, or a "
                                                 "system with attention devices such as lamina-h100-h20 (attention "
                                                 "offloading, Lamina: cost model "
                                                 "archsim.serving.offload_cost.OffloadCost)")],
    workload: Annotated[str, typer.Argument(help="workload preset or YAML: its model, dtype and parallel split "
                                                 "(its phases are ignored)")],
    load: Annotated[float, typer.Option("--load", callback=flags.finite(above=0.0, maximum=MAX_QPS),
                                        help="mean arrival rate (requests/s)")] = 1.0,
    duration: Annotated[float, typer.Option("--duration", callback=flags.finite(above=0.0, maximum=MAX_DURATION_S),
                                            help="seconds of arrivals (the run drains after it)")] = 60.0,
    out: Annotated[Path, typer.Option("--out", callback=flags.output_dir, help="output folder, replaced "
                                      "atomically")] = Path("archsim-serve"),
    scheduler: Annotated[str, typer.Option("--scheduler", help="static, continuous or disaggregated")] = "continuous",
    placement: Annotated[str, typer.Option("--placement", callback=flags.choice(placements.placement_names()),
                                           help="per-operator device choice: " + placements.describe() +
                                                " (attention offloading comes with the hardware, not this flag)")
                         ] = "gpu",
    seed: Annotated[int, typer.Option("--seed", min=0, max=2**63 - 1)] = 0,
    arrivals: Annotated[str, typer.Option("--arrivals", callback=flags.choice(ARRIVALS),
                                          help=", ".join(ARRIVALS))] = "poisson",
    cv: Annotated[float, typer.Option("--cv", callback=flags.finite(above=0.0, maximum=100.0),
                                      help="coefficient of variation of gamma gaps (>1 bursty)")] = 1.0,
    prompt: Annotated[str, typer.Option("--prompt", help="prompt lengths: fixed:N, uniform:LOW:HIGH or "
                                        "lognormal:MEDIAN:SIGMA")] = "lognormal:1024:0.6",
    output_len: Annotated[str, typer.Option("--output-len", help="output lengths, same forms")] = "lognormal:128:0.6",
    trace: Annotated[Path | None, typer.Option("--trace", exists=True, dir_okay=False, help="CSV arrival_s,"
                                               "prompt_tokens,output_tokens (replaces --load/--prompt)")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", help="static: requests per batch", **flags.BATCH)] = 8,
    max_wait_s: Annotated[float | None, typer.Option("--max-wait-s", callback=flags.finite(minimum=0.0, maximum=3600.0),
                                                     help="static: start a partial batch once its oldest request "
                                                          "has waited this long (s)")] = None,
    token_budget: Annotated[int, typer.Option("--token-budget", help="continuous/disaggregated decode: tokens per "
                                              "iteration", **flags.SEQ)] = 2048,
    no_chunking: Annotated[bool, typer.Option("--no-chunking", help="continuous: take new prompts whole")] = False,
    max_prefills: Annotated[int | None, typer.Option("--max-prefills", help="continuous: new prompts per "
                                                     "iteration at most", **flags.BATCH)] = None,
    max_seqs: Annotated[int, typer.Option("--max-seqs", help="running requests at most", **flags.BATCH)] = 256,
    preemption: Annotated[str, typer.Option("--preemption", callback=flags.choice(PREEMPTION),
                                            help="continuous (disaggregated: its decode worker): when KV blocks "
                                                 "run out, recompute or swap to host memory")] = "recompute",
    swap_space_gib: Annotated[float, typer.Option("--swap-space-gib", callback=flags.finite(above=0.0, maximum=1e5),
                                                  help="swap: host memory per device (GiB; vLLM's "
                                                       "default 4)")] = 4.0,
    host_link_gb_s: Annotated[float, typer.Option("--host-link-gb-s", callback=flags.finite(above=0.0, maximum=1e4),
                                                  help="swap: host link per device and direction "
                                                       "(GB/s; PCIe Gen5 x16 = 64)")] = 64.0,
    slo_ttft_ms: Annotated[float | None, typer.Option("--slo-ttft-ms", callback=flags.finite(above=0.0))] = None,
    slo_tbt_ms: Annotated[float | None, typer.Option("--slo-tbt-ms", callback=flags.finite(above=0.0))] = None,
    usd_per_hour: Annotated[float | None, typer.Option(
        "--usd-per-hour", callback=flags.finite(minimum=0.0, maximum=MAX_USD_PER_HOUR),
        help="price of one device-hour (USD; of the whole system with attention offloading) for cost "
             "per million tokens")] = None,
    no_report: Annotated[bool, typer.Option("--no-report", help="skip report.html")] = False,
    force: Annotated[bool, typer.Option("--force", help="replace --out even if archsim did not write it")] = False,
) -> None:
    """Simulate serving WORKLOAD's model on HARDWARE: requests.parquet, summary.json, timeline.json, report.html."""
    import sys

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from archsim.outdir import OutputFolder
    from archsim.serving.outputs import write_folder
    from archsim.serving.scenario import parse_lengths
    from archsim.serving.scenario import serve as run_serve
    from archsim.serving.schedulers import scheduler_names

    names = scheduler_names()
    if scheduler not in names:
        raise typer.BadParameter(f"{scheduler!r} is not one of {', '.join(names)}", param_hint="--scheduler")
    if preemption == "swap" and scheduler not in ("continuous", "disaggregated"):
        raise typer.BadParameter(f"swap preemption is an option of the continuous scheduler (and of the disaggregated "
                                 f"one's decode worker), not {scheduler!r}", param_hint="--preemption")
    swap = ({"preemption": preemption} | ({"swap_space_gib": swap_space_gib, "host_link_gb_s": host_link_gb_s}
                                          if preemption == "swap" else {}))
    options = ({"batch_size": batch_size, "max_wait_s": max_wait_s} if scheduler == "static" else
               {"token_budget": token_budget, "max_seqs": max_seqs, "chunked": not no_chunking,
                "max_prefills": max_prefills, **swap} if scheduler == "continuous" else
               {"decode_budget": token_budget, "max_seqs": max_seqs, **swap})
    slo = {k: v for k, v in (("ttft_ms", slo_ttft_ms), ("tbt_ms", slo_tbt_ms)) if v is not None} or None
    prompts = parse_lengths(prompt, max_tokens=limits.MAX_SEQ_LEN, flag="--prompt")
    outputs = parse_lengths(output_len, max_tokens=limits.MAX_SEQ_LEN, flag="--output-len")
    from rich.console import Console

    from archsim import presets
    from archsim.errors import ConfigError

    hw = presets.load_hardware(hardware)
    try:
        placements.check_placement(placement, hw)
    except ConfigError as exc:
        raise typer.BadParameter(exc.problems[0].message, param_hint="--placement") from None
    inputs = [p for p in (hardware, workload, trace) if p is not None]
    with OutputFolder(out, kind="serve", force=force, inputs=inputs) as target:
        progress = Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), console=Console(file=sys.stderr), transient=True)
        with progress:
            task = progress.add_task("requests finished", total=None)

            def tick(done: int, total: int) -> None:
                if done % 100 == 0 or done == total:
                    progress.update(task, completed=done, total=total)

            sc = run_serve(workload, hw, load_qps=load, duration_s=duration, scheduler=scheduler, seed=seed,
                           arrivals=arrivals, cv=cv, prompt=prompts, output=outputs,
                           trace=str(trace) if trace else None, options=options, slo=slo, usd_per_hour=usd_per_hour,
                           progress=tick, placement=placement)
        pl = sc.summary["placement"]
        where = (f"placement {pl['name']}" + (f", {100 * pl['off_gpu_time_share']:.1f}% of iteration time in operators "
                                              "off the GPU" if pl["off_gpu_time_share"] is not None else
                                              ", attention offloaded"))

        def write(folder: Path) -> None:
            write_folder(folder, sc.run, sc.summary, report=not no_report,
                         title=f"{sc.summary['workload']} on {sc.summary['hardware']} ({where}; cost model: "
                               f"{sc.summary['cost_model']})")

        target.replace(write)
    s = sc.summary
    swaps = sum(r.swaps for r in sc.run.requests)
    preempted = sum(r.preemptions for r in sc.run.requests)
    if preempted:
        typer.echo(f"{preempted} preemption(s), {swaps} by swap, {preempted - swaps} by recompute")
    typer.echo(f"{s['requests']} requests, {s['scheduler']}: TTFT p50 {s['ttft_s']['p50']:.4g} s p99 "
               f"{s['ttft_s']['p99']:.4g} s; TBT mean p50 {s['tbt_mean_s']['p50'] or 0:.4g} s; "
               f"{s['throughput']['output_tokens_per_s']:.1f} output tokens/s; {where} -> {target.path}")


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
