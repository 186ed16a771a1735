"""A compiled kernel as a Python callable: numpy arrays in and out, by the graph's names.

Stages of one call:
  1. gather the arrays: given by name (a mapping and/or keyword arguments; values of other nodes of
     the graph, e.g. a whole ``engine.run`` result, are ignored), or — for an operand not
     given — its value in the graph (a source's own value, or the interpreter's value of the node
     that produces it, computed once per kernel);
  2. check each array's shape against its buffer (a shape-generic kernel binds its size symbols
     from the shapes instead, and refuses sizes that disagree) and the work budget;
  3. make float32, C-contiguous copies where needed, allocate the output, and call the machine code
     through ``ctypes`` with the buffers' addresses (then the sizes of a generic kernel).
Not handled: strided (non-contiguous) buffers without a copy, integer dtypes, calls from several
threads into one kernel while its default values are first computed.
"""

from __future__ import annotations

import ctypes
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ...core import budget
from ...core.errors import EngineError, ShapeError
from .backend import Compiled
from .index import Idx, idx
from .loop_ir import LoopProgram


class Kernel:
    """Call as ``kernel(x=array, W=array)`` or ``kernel({"x": array})`` -> ``{output: array}``."""

    def __init__(
        self,
        program: LoopProgram,
        compiled: Compiled,
        defaults: Callable[[], Mapping[str, np.ndarray]] | None = None,
        flat: bool = False,
        llvm_ir: str = "",
        known: frozenset[str] = frozenset(),
    ):
        self.program = program
        self.compiled = compiled
        self._defaults_fn = defaults
        self._defaults: Mapping[str, np.ndarray] | None = None
        self.flat = flat  # a generic elementwise kernel: any shape, seen as n elements
        self.llvm_ir = llvm_ir
        self.known = known  # other names of the graph: given values for them are ignored
        c = program.compute
        self.inputs = tuple(b.name for b in c.inputs)
        self.output = c.output
        argtypes = [ctypes.c_void_p] * len(c.buffers) + [ctypes.c_int64] * len(program.sizes)
        self._fn = ctypes.CFUNCTYPE(None, *argtypes)(compiled.address)

    def __repr__(self) -> str:
        how = f"{self.compiled.how} O{self.compiled.opt_level}"
        return f"Kernel({', '.join(self.inputs)} -> {self.output}, {how})"

    def _default(self, name: str) -> np.ndarray:
        if self._defaults is None:
            if self._defaults_fn is None:
                raise EngineError(f"the kernel needs a value for {name!r}; it takes {', '.join(self.inputs)}")
            self._defaults = self._defaults_fn()
        return self._defaults[name]

    def arrays(self, inputs: Mapping[str, Any] | None = None, **named: Any) -> list[np.ndarray]:
        given = {**(inputs or {}), **named}
        unknown = sorted(set(given) - set(self.inputs) - self.known)
        if unknown:
            raise EngineError(
                f"the kernel has no input named {unknown[0]!r}; it takes {', '.join(self.inputs)}"
            )
        out = []
        for name in self.inputs:
            value = given[name] if name in given else self._default(name)
            try:
                out.append(np.require(np.asarray(value, dtype=np.float32), requirements="C"))
            except (TypeError, ValueError):
                raise ShapeError(f"the value given for {name!r} is not an array of numbers") from None
        return out

    def _bind(self, arrays: list[np.ndarray]) -> tuple[dict[str, int], tuple[int, ...]]:
        """Size symbols and the output shape; raises ShapeError on a mismatch."""
        c = self.program.compute
        if self.flat:
            shapes = {a.shape for a in arrays}
            if len(shapes) > 1:
                raise ShapeError(f"this elementwise kernel needs operands of one shape, got {sorted(shapes)}")
            shape = arrays[0].shape
            return {"n": int(math.prod(shape))}, shape
        sizes: dict[str, int] = {}
        for k, (buf, arr) in enumerate(zip(c.inputs, arrays)):
            if buf.graph_shape is not None and arr.shape == buf.graph_shape:
                arr = arrays[k] = arr.reshape(buf.shape)  # reshape: the same bytes, seen with new sizes
            if arr.ndim != len(buf.shape):
                raise ShapeError(
                    f"{buf.name!r} has shape {list(arr.shape)}; the kernel expects {_dims(buf.shape)}"
                )
            for want, got in zip(buf.shape, arr.shape):
                if isinstance(want, int):
                    if want != got:
                        raise ShapeError(
                            f"{buf.name!r} has shape {list(arr.shape)}; the kernel was compiled for "
                            f"{_dims(buf.shape)}"
                        )
                    continue
                sym = next(iter(idx(want).free_vars()))
                if sizes.setdefault(sym, int(got)) != got:
                    raise ShapeError(f"size {sym} is {sizes[sym]} in one operand and {got} in {buf.name!r}")
        out_shape = tuple(
            d if isinstance(d, int) else idx(d).evaluate(sizes) for d in c.buffer(c.output).shape
        )
        return sizes, out_shape

    def __call__(self, inputs: Mapping[str, Any] | None = None, /, **named: Any) -> dict[str, np.ndarray]:
        arrays = self.arrays(inputs, **named)
        sizes, out_shape = self._bind(arrays)
        budget.check_tensor(out_shape, f"the output {self.output!r}")
        loops = self.program.schedule.loops
        work = math.prod(
            l.extent if isinstance(l.extent, int) else idx(l.extent).evaluate(sizes) for l in loops
        )
        budget.check_work(work, "the kernel's loop nest")
        out = np.empty(out_shape, np.float32)
        args = [a.ctypes.data for a in arrays] + [out.ctypes.data]
        args += [sizes[s] for s in self.program.sizes]
        self._fn(*args)
        return {self.output: out}


def _dims(shape: tuple[Idx | int, ...]) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"
