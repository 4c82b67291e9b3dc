"""Validated parameter spaces for task families.

A family parameter is given either as one value (fixed) or as a range
``(lo, hi)`` / a list of choices that ``sample`` draws from. Each parameter
knows its allowed range, so a bad value is refused with a message that names
the parameter and what it accepts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np


def _pair(value) -> tuple | None:
    """A ``(lo, hi)`` range as is, a single value as ``(value, value)``; ``None`` for a wrong-length sequence."""
    if isinstance(value, (tuple, list)):
        return tuple(value) if len(value) == 2 else None
    return value, value


@dataclass(frozen=True)
class IntRange:
    """An integer parameter allowed in ``[lo, hi]``; ``default`` is a value or a ``(lo, hi)`` range."""

    lo: int
    hi: int
    default: Any
    log: bool = False

    def allowed(self) -> str:
        pos = " (a range must be positive: it is sampled log-uniformly)" if self.log and self.lo <= 0 else ""
        return f"an int or (lo, hi) range of ints within [{self.lo}, {self.hi}]{pos}"

    def check(self, value) -> tuple[int, int] | None:
        pair = _pair(value)
        if pair is None:
            return None
        lo, hi = pair
        if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in (lo, hi)):
            return None
        if not (self.lo <= lo <= hi <= self.hi):
            return None
        if self.log and lo < hi and lo <= 0:   # a log-uniform range needs positive ends
            return None
        return int(lo), int(hi)

    def sample(self, bounds: tuple[int, int], rng: np.random.Generator) -> int:
        lo, hi = bounds
        if lo == hi:
            return lo
        if self.log:
            return int(round(math.exp(rng.uniform(math.log(lo), math.log(hi)))))
        return int(rng.integers(lo, hi + 1))


@dataclass(frozen=True)
class FloatRange:
    """A float parameter allowed in ``[lo, hi]``; sampled log-uniformly when ``log``."""

    lo: float
    hi: float
    default: Any
    log: bool = False

    def allowed(self) -> str:
        return f"a number or (lo, hi) range within [{self.lo:g}, {self.hi:g}]"

    def check(self, value) -> tuple[float, float] | None:
        pair = _pair(value)
        if pair is None:
            return None
        lo, hi = pair
        if not all(isinstance(v, (int, float, np.floating, np.integer)) and not isinstance(v, bool) for v in (lo, hi)):
            return None
        lo, hi = float(lo), float(hi)
        if not (math.isfinite(lo) and math.isfinite(hi) and self.lo <= lo <= hi <= self.hi):
            return None
        if self.log and lo <= 0:
            return None
        return lo, hi

    def sample(self, bounds: tuple[float, float], rng: np.random.Generator) -> float:
        lo, hi = bounds
        if lo == hi:
            return lo
        if self.log:
            return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
        return float(rng.uniform(lo, hi))


@dataclass(frozen=True)
class Choice:
    """A categorical parameter: one of ``options``, or a list of them to sample from."""

    options: tuple
    default: Any

    def allowed(self) -> str:
        return f"one of {list(self.options)} or a non-empty list of them"

    def check(self, value) -> tuple | None:
        values = tuple(value) if isinstance(value, (tuple, list)) else (value,)
        if not values or any(v not in self.options for v in values):
            return None
        return values

    def sample(self, values: tuple, rng: np.random.Generator):
        return values[0] if len(values) == 1 else values[int(rng.integers(len(values)))]


Spec = IntRange | FloatRange | Choice


class ParamSpace:
    """A named set of parameter specs; resolves user values and samples configs."""

    def __init__(self, owner: str, **specs: Spec):
        self.owner = owner
        self.specs = specs

    def resolve(self, values: dict) -> dict:
        """Validate ``values`` (missing ones take defaults); raise ``ValueError`` naming a bad parameter."""
        unknown = sorted(set(values) - set(self.specs))
        if unknown:
            raise ValueError(
                f"{self.owner} has no parameter {unknown[0]!r}; its parameters are: {', '.join(self.specs)}"
            )
        resolved = {}
        for name, spec in self.specs.items():
            value = values.get(name, spec.default)
            checked = spec.check(value)
            if checked is None:
                raise ValueError(f"{self.owner}: parameter {name!r} must be {spec.allowed()}; got {value!r}")
            resolved[name] = checked
        return resolved

    def sample(self, resolved: dict, rng: np.random.Generator) -> dict:
        """One concrete config: every parameter drawn from its resolved range (in a fixed order)."""
        return {name: spec.sample(resolved[name], rng) for name, spec in self.specs.items()}

    def describe(self, resolved: dict) -> dict:
        """Resolved ranges as plain JSON-able values (fixed values unwrapped)."""
        out = {}
        for name, value in resolved.items():
            value = list(value)
            out[name] = value[0] if len(set(value)) == 1 else value
        return out
