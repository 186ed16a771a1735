"""What the server's heap still holds after the janitor's release (``AISL_MEMORY_REPORT=1``).

Diagnostics for the lesson bench (bench/lesson.py): logged as warnings to the server log, which the
bench collects. Reads only; releases nothing (ui/janitor.py does).
"""

from __future__ import annotations

import ctypes
import gc
import logging

_LOG = logging.getLogger(__name__)


def memory_report() -> None:
    """Log what the Python heap holds after a release (set ``AISL_MEMORY_REPORT=1``; used by the
    lesson bench to see which allocator keeps memory after a class): pymalloc's arenas and the 12
    most numerous object types."""
    import collections
    import sys

    objects = gc.get_objects()
    counts = collections.Counter(type(o).__name__ for o in objects)
    top = ", ".join(f"{name} {n}" for name, n in counts.most_common(12))
    _LOG.warning("memory report: %d gc objects; %s", sum(counts.values()), top)
    holders: collections.Counter = collections.Counter()  # buffer bytes by the type that holds them
    biggest: dict[str, tuple[int, object]] = {}  # that type's instance with the largest buffer
    seen: set[int] = set()
    for holder in objects:
        for ref in gc.get_referents(holder):
            size = _buffer_bytes(ref)
            if size >= 1 << 16 and id(ref) not in seen:
                seen.add(id(ref))
                kind = f"{type(holder).__module__}.{type(holder).__qualname__}>{type(ref).__name__}"
                holders[kind] += size
                if size > biggest.get(kind, (0, None))[0]:
                    biggest[kind] = (size, holder)
    _LOG.warning(
        "memory report: %.1f MiB in buffers >= 64 KiB; %s",
        sum(holders.values()) / 2**20,
        ", ".join(f"{k} {v / 2**20:.1f}" for k, v in holders.most_common(12)),
    )
    for kind, _ in holders.most_common(3):  # who keeps the biggest holders alive
        mine = {id(biggest), *(id(entry) for entry in biggest.values())}  # the report's own references
        path = _referrers(biggest[kind][1], objects, ignore=mine)
        _LOG.warning("memory report: %s kept by %s", kind, " < ".join(path))
    del biggest
    interpreter = sys.modules.get("engine.core.interpreter")
    for entry in list(getattr(interpreter, "_CACHES", {}).values()):  # graphs the interpreter still plans
        graph = entry.graph()
        if graph is not None:
            path = _referrers(graph, objects, ignore={id(entry)})
            _LOG.warning(
                "memory report: graph %r (%d nodes) kept by %s",
                graph.title,
                len(graph.nodes),
                " < ".join(path),
            )
        del graph
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = _MallInfo2
        info = libc.mallinfo2()
        _LOG.warning(
            "memory report: glibc arena %.1f MiB (in use %.1f, free %.1f), mmapped %.1f MiB",
            info.arena / 2**20,
            info.uordblks / 2**20,
            info.fordblks / 2**20,
            info.hblkhd / 2**20,
        )
    except (OSError, AttributeError):
        pass
    sys._debugmallocstats()  # to the process's stderr (the server log)


def _referrers(obj, objects: list, depth: int = 8, ignore: set[int] = frozenset()) -> list[str]:
    """The types on one referrer path from ``obj`` upwards (diagnostics; skips frames and the report's
    own lists)."""
    import types

    path = []
    for _ in range(depth):
        up = [
            r
            for r in gc.get_referrers(obj)
            if r is not objects and id(r) not in ignore and not isinstance(r, types.FrameType)
        ]
        if not up:
            break
        obj = up[0]
        del up  # else the next step finds this list as a referrer
        label = type(obj).__qualname__
        if isinstance(obj, dict):
            label += "{" + ",".join(str(k)[:24] for k in list(obj)[:4]) + "}"
        elif isinstance(obj, types.CoroutineType):
            where = obj.cr_code.co_filename.rsplit("/", 1)[-1]
            label += f" {obj.__qualname__} ({where}:{obj.cr_frame.f_lineno if obj.cr_frame else '-'})"
        elif isinstance(obj, (types.FunctionType, types.ModuleType)):
            label += f" {getattr(obj, '__qualname__', obj.__name__)} ({getattr(obj, '__module__', '')})"
        path.append(label)
        if isinstance(obj, types.ModuleType):
            break
    return path


def _buffer_bytes(obj) -> int:
    """Bytes of a numpy array owning its data, a bytes/bytearray, or a torch tensor's storage."""
    kind = type(obj).__name__
    if kind == "ndarray":
        return obj.nbytes if obj.base is None else 0
    if kind in ("bytes", "bytearray"):
        return len(obj)
    if kind in ("Tensor", "Parameter"):
        try:
            return obj.untyped_storage().nbytes()
        except Exception:  # noqa: BLE001 - diagnostics only
            return 0
    return 0


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]
