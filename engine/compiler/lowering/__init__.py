"""Below the graph: lower a node to loops, to SSA (LLVM IR), and compile it with LLVM.

Levels, one module each (a page steps through them with :attr:`Lowered.steps`):
  1. :mod:`.from_graph` — graph op -> tensor expression (:mod:`.texpr`, indices in :mod:`.index`);
  2. :mod:`.schedule` + :mod:`.loop_ir` — tensor expression + schedule -> loop nests;
  3. :mod:`.llvm_codegen` — loop nests -> LLVM IR text with basic blocks and phi nodes;
  4. :mod:`.backend` — llvmlite: verify, optimise O0..O3, JIT, object code, assembly;
  5. :mod:`.kernel` — the compiled function as a callable over numpy arrays;
  6. :mod:`.aot` — interpreted vs JIT vs AOT timings and the shape-specialising JIT.
:func:`lower` ties 1-3 together and returns a :class:`Lowered`.
"""

from __future__ import annotations

from .lower import Lowered, LoweringStep, lower

__all__ = ["Lowered", "LoweringStep", "lower"]
