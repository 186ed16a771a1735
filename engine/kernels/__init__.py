"""Kernels: GEMM scheduling and the cache simulator, convolution algorithms, the roofline model and
FlashAttention with its memory traffic."""
