"""The data set of the compression lab: the 8x8 handwritten digits (UCI, as shipped by scikit-learn).

Stages of :func:`digits`:
  1. read ``data/digits.csv.gz``, a copy kept in this package (1,797 images, 64 pixel values 0..16
     and a label per row; source and licence in ``data/README.md``) — nothing is downloaded and
     scikit-learn is not needed; the path is fixed, never taken from a request;
  2. scale pixels to [0, 1] (divide by 16) as float32;
  3. a stratified split fixed by ``seed``: every class is shuffled with its own generator draw and
     its first ``round(test_fraction * count)`` images go to the test set, so each class keeps its
     share in both halves.
Not handled: augmentation, any other data set.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.errors import EngineError

N_CLASSES = 10


@dataclass(frozen=True, eq=False)
class Split:
    x_train: np.ndarray  # (n_train, 64) float32 in [0, 1]
    y_train: np.ndarray  # (n_train,) int64 labels 0..9
    x_test: np.ndarray
    y_test: np.ndarray
    seed: int

    def images(self, which: str = "train") -> np.ndarray:
        """The same data as (n, 1, 8, 8) images for a CNN."""
        x = self.x_train if which == "train" else self.x_test
        return x.reshape(-1, 1, 8, 8)


DIGITS_FILE = Path(__file__).resolve().parent / "data" / "digits.csv.gz"
_DIGITS_SHAPE = (1797, 65)


@functools.lru_cache(maxsize=1)
def _raw() -> tuple[np.ndarray, np.ndarray]:
    try:
        with warnings.catch_warnings():  # an empty file: numpy warns, the shape check below refuses it
            warnings.simplefilter("ignore", UserWarning)
            data = np.loadtxt(DIGITS_FILE, delimiter=",", dtype=np.float32, ndmin=2)
    except (OSError, EOFError, ValueError) as exc:
        raise EngineError(
            f"the digits data file {DIGITS_FILE.name} is missing or damaged ({type(exc).__name__})"
        ) from None
    if data.shape != _DIGITS_SHAPE:
        raise EngineError(f"the digits data file has shape {data.shape}, expected {_DIGITS_SHAPE}")
    return data[:, :-1] / np.float32(16.0), data[:, -1].astype(np.int64)


@functools.lru_cache(maxsize=8)
def digits(seed: int = 0, test_fraction: float = 0.2) -> Split:
    """The 8x8 digits, stratified into train and test by ``seed`` (arrays are read-only)."""
    if not isinstance(seed, (int, np.integer)) or not 0 <= int(seed) < 2**31:
        raise EngineError(f"seed must be a whole number 0 .. 2^31-1, got {seed!r}")
    if not 0.05 <= float(test_fraction) <= 0.5:
        raise EngineError(f"test_fraction = {test_fraction} must lie between 0.05 and 0.5")
    x, y = _raw()
    rng = np.random.default_rng(int(seed))
    train, test = [], []
    for c in range(N_CLASSES):
        idx = np.flatnonzero(y == c)
        idx = idx[rng.permutation(len(idx))]
        k = int(round(test_fraction * len(idx)))
        test.append(idx[:k])
        train.append(idx[k:])
    tr = np.sort(np.concatenate(train))
    te = np.sort(np.concatenate(test))
    arrays = [x[tr], y[tr], x[te], y[te]]
    for a in arrays:
        a.setflags(write=False)
    return Split(*arrays, seed=int(seed))


def one_hot(y: np.ndarray, n: int = N_CLASSES) -> np.ndarray:
    out = np.zeros((len(y), n), np.float32)
    out[np.arange(len(y)), y] = 1.0
    return out
