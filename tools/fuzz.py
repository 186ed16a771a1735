"""A longer fuzz of the program language and the ONNX importer than the suite's (``make fuzz``).

The suite's property tests already say what must hold: random text, fragment soups and random ASTs
only ever raise ProgramError (tests/test_language.py); mutated bytes of a valid model only import or
raise EngineError (tests/test_hostile_onnx.py). The suite runs each once with 150–200 examples (the
ONNX one derandomized, so always the same ones). This tool runs the same tests again and again:
  1. targets: every hypothesis test of :data:`MODULES` that needs no pytest fixture (``--only``
     picks by name);
  2. rounds: round r runs every target with seed ``seed + r`` and ``--examples`` examples — the
     test's own settings, but random (not derandomized), no example database, no deadline;
  3. it stops when the time budget is spent (checked before each run) or at the first failure, which
     it prints with the command that replays it (same seed, same target, one round).
A failure exits 1. Not handled: coverage-guided fuzzing (atheris, AFL); the hypothesis attributes
used to override a decorated test's settings (``_hypothesis_internal_use_settings``) are internal
ones, the same that ``@hypothesis.seed`` sets.
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import sys
import time
import traceback
from pathlib import Path

from hypothesis import seed as with_seed
from hypothesis import settings

ROOT = Path(__file__).resolve().parent.parent
MODULES = ("tests/test_language.py", "tests/test_hostile_onnx.py")


def load_targets(modules: tuple[str, ...] = MODULES, only: str = "") -> list:
    """The fixture-free hypothesis tests of ``modules`` (name contains ``only``), in file order."""
    for path in (ROOT, ROOT / "tests"):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))
    targets = []
    for rel in modules:
        spec = importlib.util.spec_from_file_location(Path(rel).stem, ROOT / rel)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for name, fn in vars(module).items():
            if not (name.startswith("test_") and hasattr(fn, "hypothesis")):
                continue
            if inspect.signature(fn).parameters or only not in name:
                continue  # a fixture (pytest) is needed, or not asked for
            targets.append(fn)
    return targets


def run_once(fn, seed: int, examples: int) -> None:
    """``fn`` with ``examples`` random examples drawn from ``seed``; raises what the test raises."""
    own = getattr(fn, "_hypothesis_internal_use_settings", None)
    fn._hypothesis_internal_use_settings = settings(
        own, max_examples=examples, derandomize=False, database=None, deadline=None
    )
    with_seed(seed)(fn)
    fn()


def fuzz(budget_s: float, seed: int, examples: int, only: str = "", rounds: int = 0) -> int:
    targets = load_targets(only=only)
    if not targets:
        print(f"no fuzz targets match {only!r}")
        return 2
    names = [fn.__name__ for fn in targets]
    print(
        f"fuzz: {len(targets)} targets ({', '.join(names)}), seed {seed}, {examples} examples a run, "
        f"budget {budget_s:g} s"
    )
    t0 = time.monotonic()
    runs = {name: 0 for name in names}
    r = 0
    while (not rounds or r < rounds) and time.monotonic() - t0 < budget_s:
        for fn in targets:
            if time.monotonic() - t0 >= budget_s:
                break
            try:
                run_once(fn, seed + r, examples)
            except Exception:  # noqa: BLE001 - every failure is reported with its replay command
                traceback.print_exc()
                print(
                    f"\nFAILED {fn.__name__} with seed {seed + r}; replay:\n  {sys.executable} -m "
                    f"tools.fuzz --seed {seed + r} --only {fn.__name__} --rounds 1 --examples {examples}"
                )
                return 1
            runs[fn.__name__] += 1
        r += 1
    took = time.monotonic() - t0
    total = sum(runs.values()) * examples
    print(f"fuzz passed: {total:,} examples in {took:.0f} s, seeds {seed}..{seed + max(r - 1, 0)}")
    for name, count in runs.items():
        print(f"  {name:55s} {count * examples:>9,} examples")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=600.0, help="time budget (default 10 minutes)")
    ap.add_argument("--seed", type=int, default=None, help="first seed (default: from the clock)")
    ap.add_argument("--examples", type=int, default=1000, help="examples per target per round")
    ap.add_argument("--only", default="", help="run the targets whose name contains this")
    ap.add_argument("--rounds", type=int, default=0, help="stop after this many rounds (0: budget)")
    args = ap.parse_args(argv)
    seed = int(time.time()) if args.seed is None else args.seed
    return fuzz(args.seconds, seed, args.examples, args.only, args.rounds)


if __name__ == "__main__":
    raise SystemExit(main())
