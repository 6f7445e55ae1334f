"""Partial statistics of reduce mode and their exact merge (a leaf module: the CPU path in
``sweep.engine.reduce`` and the GPU path in ``sweep.backends.gpu_reduce`` both build them)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np


@dataclass
class Partials:
    """Partial statistics of some blocks (see ``sweep.kernels.reduce_cpu``)."""

    n: np.ndarray
    nan: np.ndarray
    w: np.ndarray
    mean: np.ndarray
    m2: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    ilo: np.ndarray
    ihi: np.ndarray
    hn: np.ndarray
    hw: np.ndarray
    tb: np.ndarray
    ta: np.ndarray

    @classmethod
    def empty(cls, n_groups: int, n_out: int, nb: int, n_below: int, n_above: int
              ) -> Partials:
        shape = (n_groups, n_out)
        return cls(n=np.zeros(shape, np.int64), nan=np.zeros(shape, np.int64),
                   w=np.zeros(shape), mean=np.zeros(shape), m2=np.zeros(shape),
                   lo=np.full(shape, np.nan), hi=np.full(shape, np.nan),
                   ilo=np.full(shape, -1, np.int64), ihi=np.full(shape, -1, np.int64),
                   hn=np.zeros((*shape, nb + 2 if nb else 1), np.int64),
                   hw=np.zeros((*shape, nb + 2 if nb else 1)),
                   tb=np.zeros((*shape, n_below)), ta=np.zeros((*shape, n_above)))


def merge(a: Partials, b: Partials) -> Partials:
    """``a`` and ``b`` combined (exact for counts, extremes and histograms; Chan's formula
    for mean and m2; ties of extremes keep the smaller flat index, as NumPy's argmin)."""
    wa, wb = a.w, b.w
    tot = wa + wb
    with np.errstate(invalid="ignore", divide="ignore"):
        delta = b.mean - a.mean
        frac = np.where(tot > 0, wb / np.where(tot > 0, tot, 1.0), 0.0)
        mean = np.where(wa > 0, np.where(wb > 0, a.mean + delta * frac, a.mean), b.mean)
        cross = np.where((wa > 0) & (wb > 0), delta * delta * wa * wb / np.where(tot > 0, tot, 1),
                         0.0)
    m2 = a.m2 + b.m2 + cross
    take_lo = (b.lo < a.lo) | np.isnan(a.lo) | ((b.lo == a.lo) & (b.ilo < a.ilo) & (b.ilo >= 0))
    take_lo &= ~np.isnan(b.lo)
    take_hi = (b.hi > a.hi) | np.isnan(a.hi) | ((b.hi == a.hi) & (b.ihi < a.ihi) & (b.ihi >= 0))
    take_hi &= ~np.isnan(b.hi)
    return Partials(n=a.n + b.n, nan=a.nan + b.nan, w=tot, mean=mean, m2=m2,
                    lo=np.where(take_lo, b.lo, a.lo), hi=np.where(take_hi, b.hi, a.hi),
                    ilo=np.where(take_lo, b.ilo, a.ilo), ihi=np.where(take_hi, b.ihi, a.ihi),
                    hn=a.hn + b.hn, hw=a.hw + b.hw, tb=a.tb + b.tb, ta=a.ta + b.ta)


def merge_all(*parts: Partials) -> Partials:
    """Every partial merged, left to right."""
    out = parts[0]
    for p in parts[1:]:
        out = merge(out, p)
    return out


def take(p: Partials, rows) -> Partials:
    """The groups ``rows`` (an index or slice along the first axis) of ``p``."""
    return Partials(**{f.name: getattr(p, f.name)[rows] for f in dataclasses.fields(p)})


def concat(a: Partials, b: Partials) -> Partials:
    """``a``'s groups, then ``b``'s."""
    return Partials(**{f.name: np.concatenate([getattr(a, f.name), getattr(b, f.name)])
                       for f in dataclasses.fields(a)})
