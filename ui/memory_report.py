"""What the server's heap still holds after the janitor's release (``AISL_MEMORY_REPORT=1``).

Diagnostics for the lesson bench (bench/lesson.py): logged as warnings to the server log, which the
bench collects. Reads only; releases nothing (ui/janitor.py does).
"""

from __future__ import annotations

import ctypes
import gc
import logging

_LOG = logging.getLogger(__name__)


_FIRST_COUNTS: dict = {}  # the first report's object counts by type


def _trace_report() -> None:
    """With ``AISL_TRACEMALLOC=<frames>``: the first report starts tracemalloc (after the warm-up's
    release, so only what is allocated from then on is traced); each later one logs the 12 allocation
    sites holding the most bytes and the 12 with the most blocks still alive — what a class left.
    Diagnostics only: tracing slows the server by about half."""
    import os
    import tracemalloc

    frames = os.environ.get("AISL_TRACEMALLOC", "")
    if not tracemalloc.is_tracing():
        if frames.isdigit() and int(frames) > 0:
            tracemalloc.start(int(frames))
            _LOG.warning("memory report: tracemalloc started (%s frames)", frames)
        return
    snap = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
    stats = snap.statistics("traceback")
    _LOG.warning(
        "memory report: alive since tracing began: %.1f MiB in %d blocks at %d sites",
        sum(s.size for s in stats) / 2**20,
        sum(s.count for s in stats),
        len(stats),
    )
    by_count = sorted(stats, key=lambda s: -s.count)[:12]
    for label, top in (("bytes", stats[:12]), ("blocks", by_count)):
        for stat in top:
            newest = list(stat.traceback)[::-1][:6]
            where = " < ".join(f"{f.filename.rsplit('/', 2)[-1]}:{f.lineno}" for f in newest)
            _LOG.warning(
                "memory report: most %s: %.1f KiB in %d blocks at %s",
                *(label, stat.size / 1024, stat.count, where),
            )


def memory_report() -> None:
    """Log what the Python heap holds after a release (set ``AISL_MEMORY_REPORT=1``; used by the
    lesson bench to see which allocator keeps memory after a class): pymalloc's arenas and the 12
    most numerous object types."""
    import collections
    import sys

    _trace_report()  # first: with tracing on, everything below allocates (and is traced) a lot
    objects = gc.get_objects()
    counts = collections.Counter(type(o).__name__ for o in objects)
    top = ", ".join(f"{name} {n}" for name, n in counts.most_common(12))
    _LOG.warning("memory report: %d gc objects; %s", sum(counts.values()), top)
    first = _FIRST_COUNTS.setdefault("counts", counts)
    if first is not counts:
        grew = (counts - first).most_common(12)
        _LOG.warning("memory report: gc objects grew since the first report: %s", grew)
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
