"""The core every chapter stands on: the graph IR, the op registry and its numpy kernels, the reference
interpreter, the cost model, the safe program language, the presets, work budgets and errors.

Nothing here imports a chapter package (tests/test_architecture.py checks it), so the core can be read,
and shown beside a lesson, on its own.
"""
