"""Integer index expressions of the loop IR: polynomials over loop variables and symbolic sizes.

An :class:`Idx` is a sum of terms ``coef * atom * atom * ...`` plus a constant, where an atom is a
variable name (a loop variable such as ``i_o``, an axis such as ``k``, or a symbolic size such as
``M`` of a shape-generic kernel) or a floor division / remainder of another :class:`Idx` by a
positive constant (conv2d's group of an output channel). Stages of every operation:
  1. operands are coerced (``int`` -> constant, ``str`` -> variable);
  2. terms are merged by their monomial (the tuple of atoms), keeping the order of first appearance
     so the printout reads like the formula it came from (``oh*2 + kh - 1``);
  3. terms with a zero coefficient disappear.
Questions a code generator asks: :meth:`Idx.coeff` (the constant stride of one variable, ``None``
when it appears non-linearly), :meth:`Idx.subst` (replace axes by their loop variables),
:meth:`Idx.bounds` (interval of values over given variable ranges: which loads need a padding check).
Not handled: division by a negative or symbolic divisor, products inside a division's bounds when a
symbol is involved (``bounds`` answers ``None``: unknown).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

Atom = Union[str, "DivAtom"]
Monomial = tuple[Atom, ...]


@dataclass(frozen=True)
class DivAtom:
    """``expr // divisor`` (kind ``div``) or ``expr % divisor`` (kind ``mod``), divisor > 0."""

    expr: Idx
    divisor: int
    kind: str = "div"

    def __str__(self) -> str:
        op = "//" if self.kind == "div" else "%"
        inner = str(self.expr)
        return f"({inner}) {op} {self.divisor}" if self.expr.is_compound else f"{inner} {op} {self.divisor}"


def _key(atom: Atom) -> str:
    return atom if isinstance(atom, str) else f"({atom})"


@dataclass(frozen=True)
class Idx:
    """A polynomial index expression (see the module docstring); build with :func:`idx`."""

    terms: tuple[tuple[Monomial, int], ...] = ()

    # -- construction ---------------------------------------------------------------------------
    @staticmethod
    def _merge(pairs) -> Idx:
        out: dict[Monomial, int] = {}
        for mono, coef in pairs:
            out[mono] = out.get(mono, 0) + coef
        return Idx(tuple((m, c) for m, c in out.items() if c != 0))

    def __add__(self, other) -> Idx:
        return Idx._merge(self.terms + idx(other).terms)

    __radd__ = __add__

    def __neg__(self) -> Idx:
        return Idx(tuple((m, -c) for m, c in self.terms))

    def __sub__(self, other) -> Idx:
        return self + (-idx(other))

    def __rsub__(self, other) -> Idx:
        return idx(other) - self

    def __mul__(self, other) -> Idx:
        other = idx(other)
        pairs = []
        for m1, c1 in self.terms:
            for m2, c2 in other.terms:
                pairs.append((tuple(sorted(m1 + m2, key=_key)), c1 * c2))
        return Idx._merge(pairs)

    __rmul__ = __mul__

    def floordiv(self, divisor: int) -> Idx:
        """``self // divisor``; folded when every coefficient is a multiple of the divisor."""
        if divisor == 1:
            return self
        if all(c % divisor == 0 for _, c in self.terms):
            return Idx(tuple((m, c // divisor) for m, c in self.terms))
        const = self.const_value()
        if const is not None:
            return idx(const // divisor)
        return Idx(((((DivAtom(self, divisor, "div")),), 1),))

    def mod(self, divisor: int) -> Idx:
        const = self.const_value()
        if const is not None:
            return idx(const % divisor)
        return Idx((((DivAtom(self, divisor, "mod"),), 1),))

    # -- questions ------------------------------------------------------------------------------
    def const_value(self) -> int | None:
        """The value when the expression is a constant, else None."""
        if not self.terms:
            return 0
        if len(self.terms) == 1 and self.terms[0][0] == ():
            return self.terms[0][1]
        return None

    @property
    def is_compound(self) -> bool:
        return len(self.terms) > 1 or any(len(m) > 1 or c != 1 for m, c in self.terms)

    def free_vars(self) -> set[str]:
        out: set[str] = set()
        for mono, _ in self.terms:
            for atom in mono:
                out |= {atom} if isinstance(atom, str) else atom.expr.free_vars()
        return out

    def coeff(self, var: str) -> int | None:
        """The constant coefficient of ``var`` (0 if absent), None if it appears non-linearly."""
        total = 0
        for mono, c in self.terms:
            for atom in mono:
                if isinstance(atom, DivAtom) and var in atom.expr.free_vars():
                    return None
            hits = mono.count(var)
            if hits == 0:
                continue
            if hits > 1 or len(mono) > 1:
                return None
            total += c
        return total

    def subst(self, mapping: dict[str, Idx | int | str]) -> Idx:
        out = idx(0)
        for mono, c in self.terms:
            term = idx(c)
            for atom in mono:
                if isinstance(atom, str):
                    term = term * (idx(mapping[atom]) if atom in mapping else idx(atom))
                else:
                    inner = atom.expr.subst(mapping)
                    term = term * (
                        inner.floordiv(atom.divisor) if atom.kind == "div" else inner.mod(atom.divisor)
                    )
            out = out + term
        return out

    def evaluate(self, env: dict[str, int]) -> int:
        total = 0
        for mono, c in self.terms:
            value = c
            for atom in mono:
                if isinstance(atom, str):
                    value *= env[atom]
                else:
                    inner = atom.expr.evaluate(env)
                    value *= inner // atom.divisor if atom.kind == "div" else inner % atom.divisor
            total += value
        return total

    def bounds(self, ranges: dict[str, tuple[int, int]]) -> tuple[int, int] | None:
        """(lowest, highest) value when each variable v lies in ``ranges[v]`` (inclusive), or None."""
        lo = hi = 0
        for mono, c in self.terms:
            t_lo = t_hi = c
            for atom in mono:
                if isinstance(atom, str):
                    if atom not in ranges:
                        return None
                    a_lo, a_hi = ranges[atom]
                else:
                    inner = atom.expr.bounds(ranges)
                    if inner is None:
                        return None
                    if atom.kind == "div":
                        a_lo, a_hi = inner[0] // atom.divisor, inner[1] // atom.divisor
                    else:
                        a_lo, a_hi = 0, atom.divisor - 1
                corners = (t_lo * a_lo, t_lo * a_hi, t_hi * a_lo, t_hi * a_hi)
                t_lo, t_hi = min(corners), max(corners)
            lo, hi = lo + t_lo, hi + t_hi
        return lo, hi

    # -- text -----------------------------------------------------------------------------------
    def __str__(self) -> str:
        if not self.terms:
            return "0"
        parts: list[tuple[int, str]] = []
        const = 0
        for mono, c in self.terms:
            if mono == ():
                const += c
                continue
            body = "*".join(
                str(a) if isinstance(a, str) or not a.expr.is_compound else f"({a})" for a in mono
            )
            parts.append((c, body if abs(c) == 1 else f"{body}*{abs(c)}"))
        if const:
            parts.append((const, str(abs(const))))
        text = ("-" if parts[0][0] < 0 else "") + parts[0][1]
        for c, body in parts[1:]:
            text += (" - " if c < 0 else " + ") + body
        return text


def idx(value: Idx | int | str) -> Idx:
    """Coerce an int (constant), a str (variable) or an Idx."""
    if isinstance(value, Idx):
        return value
    if isinstance(value, bool):
        raise TypeError("an index cannot be a bool")
    if isinstance(value, int):
        return Idx((((), value),)) if value else Idx()
    if isinstance(value, str):
        return Idx((((value,), 1),))
    raise TypeError(f"cannot make an index from {value!r}")


def flat_offset(indices: tuple[Idx, ...], shape: tuple[Idx | int, ...]) -> Idx:
    """Row-major offset ``sum(index_d * stride_d)`` of a buffer of ``shape``."""
    offset, stride = idx(0), idx(1)
    for index, size in zip(reversed(indices), reversed(shape)):
        offset = offset + index * stride
        stride = stride * idx(size)
    return offset


def row_major_strides(shape: tuple[Idx | int, ...]) -> tuple[Idx, ...]:
    strides, stride = [], idx(1)
    for size in reversed(shape):
        strides.append(stride)
        stride = stride * idx(size)
    return tuple(reversed(strides))
