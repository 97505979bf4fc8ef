"""Heterogeneous serving: attention offloading (Lamina) and head-wise KV offload (HeadInfer).

``serving.decode_iteration`` times one decode iteration of a model on a serving configuration;
``serving.best_batch`` picks the batch that maximises throughput under KV-cache capacity and a
per-token latency limit; ``lamina`` reproduces the paper's throughput-per-dollar comparison.
"""
