"""archsim.serving: a serving simulator on :mod:`archsim.engine` — requests arrive, a registered scheduler
forms iterations, the backends cost each iteration, metrics per request.

Quick map (one concept per module)::

    from archsim.serving.scenario import serve                         # the whole flow (archsim serve)
    sc = serve("workloads/llama3-70b-tp8.yaml", "hgx-h100", load_qps=2, duration_s=60, scheduler="continuous")
    sc.summary["ttft_s"]["p99"]; sc.run.requests[0].token_times_s

    from archsim.serving.requests import Arrivals, Lengths, generate, read_trace   # requests.py
    from archsim.serving.kv import BlockManager                                      # kv.py (paged KV blocks)
    from archsim.serving.schedulers import make_scheduler, scheduler_names, register_scheduler, Deployment
    from archsim.serving.simulator import Simulation                                 # one event per iteration/arrival
    from archsim.serving.cost import BackendCost, kv_capacity                        # iteration costs, KV room
    from archsim.serving.placement import get_placement, placement_names, register_placement  # per-operator device
    from archsim.serving.metrics import summarise, request_rows, littles_law         # figures
    from archsim.serving.outputs import write_folder                                 # parquet, json, trace, html

    # any plain function of an Iteration is a cost model (tests pin schedules with one):
    Simulation(requests, make_scheduler("static", Deployment(capacity_blocks=100), batch_size=2),
               lambda it: 0.01 + 1e-4 * it.tokens).run()
"""
