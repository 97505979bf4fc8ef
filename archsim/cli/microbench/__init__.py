"""Plugins of ``archsim microbench``: each module exposes ``register(microbench_app)``."""
