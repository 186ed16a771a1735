"""Inference systems: batching and serving simulators, KV-cache memory, LLM serving, and where one
inference should run (cloud vs edge)."""
