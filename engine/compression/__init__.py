"""Compression: the lab's small models and their training, quantization (``quant/``), pruning,
distillation and low-rank factorisation. ``lab`` builds the Pareto view of every variant."""
