"""torch import: export a torch module to ONNX in memory (``dynamo=False``) and read it back."""

from __future__ import annotations

from typing import Any

from ..core import budget
from ..core.errors import EngineError
from ..core.ir import Graph
from ..core.limits import one_torch_trace_at_a_time
from .onnx_export import OPSET
from .onnx_import import from_onnx


def from_torch(module: Any, example_input: Any, opset: int = OPSET) -> Graph:
    """Export a torch ``nn.Module`` to ONNX in memory (``dynamo=False``) and read it back."""
    import torch

    if not isinstance(module, torch.nn.Module):
        raise EngineError(f"from_torch() needs a torch.nn.Module, got {type(module).__name__}")
    if not isinstance(example_input, torch.Tensor):
        raise EngineError(f"from_torch() needs one example input tensor, got {type(example_input).__name__}")
    budget.check_tensor(tuple(example_input.shape), "the example input")
    return from_onnx(torch_to_onnx_bytes(module, example_input, opset))


@one_torch_trace_at_a_time
def torch_to_onnx_bytes(module: Any, example_input: Any, opset: int = OPSET) -> bytes:
    """The ONNX bytes of ``module`` traced on ``example_input`` (eval mode, constants folded)."""
    import io
    import warnings

    import torch

    was_training = module.training
    module.eval()
    buf = io.BytesIO()
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module,
                (example_input,),
                buf,
                dynamo=False,
                opset_version=opset,
                input_names=["x"],
                output_names=["y"],
                do_constant_folding=True,
            )
    except Exception as exc:  # noqa: BLE001 - torch raises many types when tracing fails
        raise EngineError(
            f"from_torch: torch could not export this module to ONNX: {str(exc).splitlines()[0][:300]}"
        ) from None
    finally:
        module.train(was_training)
    return buf.getvalue()
