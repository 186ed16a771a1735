"""Interop: ONNX export and (hostile-input-safe) import, torch modules through ONNX, the torch model
zoo, and onnxruntime's optimiser beside ours. torch and onnx are imported only inside functions."""
