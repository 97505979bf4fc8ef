"""The measured serving run's engine (``serving.py``): model, preallocated contiguous KV cache, decode graphs
per batch bucket, eager or graph-captured prefill. Imports torch and ``wm_models`` (beside it) when built.
"""

from __future__ import annotations


class Engine:
    """Model, preallocated contiguous KV cache, decode graphs per batch bucket, eager prefill."""

    def __init__(self, layers: int, max_batch: int, prompt: int, output: int, graphs: bool, log,
                 prefill_graph: bool = False) -> None:
        import torch
        import wm_models
        self.torch, self.F, self.wm = torch, torch.nn.functional, wm_models
        self.shape = wm_models.SHAPES["llama-2-7b"]
        self.max_len = -(-(prompt + output) // 64) * 64
        self.max_batch, self.prompt = max_batch, prompt
        with torch.device("cuda"):
            self.m = wm_models.PlainLlama(self.shape, layers, max_pos=self.max_len)
        self.m.requires_grad_(False)
        self.m.alloc_cache(max_batch, self.max_len)
        dev = "cuda"
        self.ids = torch.randint(0, self.shape["vocab"], (max_batch,), device=dev)
        self.pos = torch.zeros(max_batch, dtype=torch.long, device=dev)
        self.pos_cpu = torch.zeros(max_batch, dtype=torch.long).pin_memory()
        self.pos_np = self.pos_cpu.numpy()
        self.rows = torch.arange(max_batch, device=dev)
        self.ar = torch.arange(self.max_len, device=dev)
        self.prompts = [torch.randint(0, self.shape["vocab"], (1, prompt), device=dev) for _ in range(8)]
        self.ppos = torch.arange(prompt, device=dev)
        self.buckets = sorted({b for b in (1, 2, 4, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128)
                               if b < max_batch} | {max_batch})
        self.graphs: dict = {}
        self.graph_error = ""
        self.n_prefill = 0
        # graph-captured prefill: fixed prompt buffer and a device slot index (set before each replay)
        self.pids = self.prompts[0].clone()
        self.slot_t = torch.zeros(1, dtype=torch.long, device=dev)
        self.slot_cpu = torch.zeros(1, dtype=torch.long).pin_memory()
        self.prefill_graph = None
        self.prefill_graph_error = ""
        self.use_prefill_graph = False
        if graphs:
            try:
                self._capture()
            except Exception as e:  # recorded in meta; the server then decodes eagerly
                self.graphs, self.graph_error = {}, repr(e)[:300]
                log(f"graph capture FAILED, eager decode: {e!r}")
        if prefill_graph:
            try:
                self._capture_prefill()
            except Exception as e:  # recorded in meta; graph-prefill loads are then skipped
                self.prefill_graph, self.prefill_graph_error = None, repr(e)[:300]
                log(f"prefill graph capture FAILED: {e!r}")
        torch.cuda.synchronize()

    def _decode(self, b: int) -> None:
        F, m, wm = self.F, self.m, self.wm
        h, hkv, d = m.h, m.hkv, m.d
        p = self.pos[:b]
        x = F.embedding(self.ids[:b], m.embed).unsqueeze(1)
        cos, sin = m.cos[p][:, None, None, :], m.sin[p][:, None, None, :]
        mask = (self.ar[None, :] <= p[:, None])[:, None, None, :]
        rows = self.rows[:b]
        for i in range(m.layers):
            r = x
            y = wm.rmsnorm(x, m.n1[i], m.eps)
            qkv = F.linear(y, m.wqkv[i]).view(b, 1, h + 2 * hkv, d)
            q, k, v = qkv.split([h, hkv, hkv], dim=2)
            q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
            q = q * cos + wm.rotate_half(q) * sin
            k = k * cos + wm.rotate_half(k) * sin
            kc, vc = m.k_cache[i], m.v_cache[i]
            kc[rows, :, p] = k[:, :, 0]
            vc[rows, :, p] = v[:, :, 0]
            o = F.scaled_dot_product_attention(q, kc[:b], vc[:b], attn_mask=mask, enable_gqa=hkv != h)
            x = r + F.linear(o.transpose(1, 2).reshape(b, 1, h * d), m.wo[i])
            r = x
            y = wm.rmsnorm(x, m.n2[i], m.eps)
            g, u = F.linear(y, m.w13[i]).chunk(2, dim=-1)
            x = r + F.linear(F.silu(g) * u, m.w2[i])
        x = wm.rmsnorm(x[:, 0], m.nf, m.eps)
        self.ids[:b].copy_(F.linear(x, m.head).argmax(-1))

    def _capture(self) -> None:
        torch = self.torch
        pool = None
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            for b in self.buckets:
                self._decode(b)
        torch.cuda.current_stream().wait_stream(s)
        torch.cuda.synchronize()
        for b in reversed(self.buckets):  # largest first so the shared pool is sized once
            g = torch.cuda.CUDAGraph()
            with torch.cuda.graph(g, pool=pool):
                self._decode(b)
            pool = g.pool()
            self.graphs[b] = g
        torch.cuda.synchronize()

    def _prefill_body(self) -> None:
        """Whole prompt ``pids`` into slot ``slot_t`` (device index: graph-capturable); first token to ids[slot]."""
        from torch.nn.attention import SDPBackend, sdpa_kernel
        F, m, wm = self.F, self.m, self.wm
        h, hkv, d, s = m.h, m.hkv, m.d, self.prompt
        x = F.embedding(self.pids, m.embed)
        cos, sin = m.cos[self.ppos][None, None], m.sin[self.ppos][None, None]
        for i in range(m.layers):
            r = x
            y = wm.rmsnorm(x, m.n1[i], m.eps)
            qkv = F.linear(y, m.wqkv[i]).view(1, s, h + 2 * hkv, d)
            q, k, v = qkv.split([h, hkv, hkv], dim=2)
            q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
            q = q * cos + wm.rotate_half(q) * sin
            k = k * cos + wm.rotate_half(k) * sin
            m.k_cache[i][:, :, :s].index_copy_(0, self.slot_t, k)
            m.v_cache[i][:, :, :s].index_copy_(0, self.slot_t, v)
            with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
                o = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=hkv != h)
            x = r + F.linear(o.transpose(1, 2).reshape(1, s, h * d), m.wo[i])
            r = x
            y = wm.rmsnorm(x, m.n2[i], m.eps)
            g, u = F.linear(y, m.w13[i]).chunk(2, dim=-1)
            x = r + F.linear(F.silu(g) * u, m.w2[i])
        x = wm.rmsnorm(x[:, -1], m.nf, m.eps)
        self.ids.index_copy_(0, self.slot_t, F.linear(x, m.head).argmax(-1))

    def _capture_prefill(self) -> None:
        torch = self.torch
        self.slot_t.fill_(self.max_batch - 1)
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            for _ in range(2):
                self._prefill_body()
        torch.cuda.current_stream().wait_stream(s)
        torch.cuda.synchronize()
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            self._prefill_body()
        torch.cuda.synchronize()
        self.prefill_graph = g

    def bucket(self, n: int) -> int:
        return next(b for b in self.buckets if b >= n)

    def decode(self, positions: list[int]) -> int:
        """One decode step for slots 0..n-1 at ``positions``; returns the bucket it ran as."""
        n = len(positions)
        b = self.bucket(n) if self.graphs else n
        self.pos_np[:n] = positions
        self.pos_np[n:b] = 0
        self.pos[:b].copy_(self.pos_cpu[:b], non_blocking=True)
        if self.graphs:
            self.graphs[b].replay()
        else:
            self._decode(b)
        return b

    def prefill(self, slot: int) -> None:
        """Whole prompt of one request into ``slot`` (eager, or one graph replay when ``use_prefill_graph``);
        its first token goes to ``ids[slot]``."""
        from torch.nn.attention import SDPBackend, sdpa_kernel
        F, m, wm = self.F, self.m, self.wm
        h, hkv, d, s = m.h, m.hkv, m.d, self.prompt
        ids = self.prompts[self.n_prefill % len(self.prompts)]
        self.n_prefill += 1
        if self.use_prefill_graph:
            self.slot_cpu[0] = slot
            self.slot_t.copy_(self.slot_cpu, non_blocking=True)
            self.pids.copy_(ids)
            self.prefill_graph.replay()
            return
        x = F.embedding(ids, m.embed)
        cos, sin = m.cos[self.ppos][None, None], m.sin[self.ppos][None, None]
        for i in range(m.layers):
            r = x
            y = wm.rmsnorm(x, m.n1[i], m.eps)
            qkv = F.linear(y, m.wqkv[i]).view(1, s, h + 2 * hkv, d)
            q, k, v = qkv.split([h, hkv, hkv], dim=2)
            q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
            q = q * cos + wm.rotate_half(q) * sin
            k = k * cos + wm.rotate_half(k) * sin
            m.k_cache[i][slot, :, :s] = k[0]
            m.v_cache[i][slot, :, :s] = v[0]
            with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
                o = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=hkv != h)
            x = r + F.linear(o.transpose(1, 2).reshape(1, s, h * d), m.wo[i])
            r = x
            y = wm.rmsnorm(x, m.n2[i], m.eps)
            g, u = F.linear(y, m.w13[i]).chunk(2, dim=-1)
            x = r + F.linear(F.silu(g) * u, m.w2[i])
        x = wm.rmsnorm(x[:, -1], m.nf, m.eps)
        self.ids[slot:slot + 1].copy_(F.linear(x, m.head).argmax(-1))

    def move(self, src: int, dst: int) -> None:
        """Slot compaction: K/V of every layer and the pending token from ``src`` to ``dst``."""
        for kc, vc in zip(self.m.k_cache, self.m.v_cache, strict=True):
            kc[dst].copy_(kc[src])
            vc[dst].copy_(vc[src])
        self.ids[dst].copy_(self.ids[src])
