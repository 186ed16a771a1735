"""The ops, one registry entry each: elementwise (unary maps and broadcasting binaries), nn (matmul,
gemm, conv2d, norms, pools, softmax) and shape (reshape, transpose, slices, reductions)."""
