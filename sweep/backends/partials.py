"""What every reduce engine shares: the resolved folding a plan hands it (:class:`Folding`,
:class:`RatioBins`), the partial statistics it returns (:class:`Partials`) and their exact
merge. The engines are the backends' ``fold`` and ``ratio`` (numpy, numba, cuda); the
engine layer (:mod:`sweep.engine.reduce`) only schedules them and merges their results."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from sweep.kernels.ratio import (  # noqa: F401 - RATIO_FIELDS, ratio_stats: this API
    R_MAX,
    R_MIN,
    RATIO_FIELDS,
    ratio_stats,
)


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


@dataclass(frozen=True)
class RatioBins:
    """The log-scale histogram of one comparison's ratio ``a / b``: ``nb`` bins between
    ``edges[0]`` and ``edges[-1]`` (``elo``: the log of the lower edge, ``einv``: bins per
    unit of log), resolved at plan time from a first pass over a subsampled grid."""

    elo: float
    einv: float
    edges: np.ndarray
    nb: int


@dataclass(frozen=True)
class Folding:
    """Everything a reduce engine needs to fold a block into :class:`Partials`, resolved at
    plan time (:func:`sweep.planning.reduce_plan.resolve_folding`).

    ``names[k]`` is the k-th folded node (the outputs, then ``best:``'s node) and
    ``codes[k]`` its index in the model's outputs; ``full[k]`` is 1 for every statistic, 0
    for counts and extremes only. ``kept_stride[d]``: the stride of dim d in the flat group
    index (0 for folded dims); ``grid_stride[d]``: its stride in the flat grid index.
    ``weights[d]``: the weight of each value of dim d. Histogram: ``nb`` bins per node
    (0: none), ``edges[k]`` its ``nb + 1`` edges, ``edges_lo[k]``/``edges_inv[k]`` its lower
    edge (its log on a log scale) and bins per unit, ``log_scale[k]``. ``below``/``above``:
    thresholds, NaN-padded, shape (n_nodes, n_thresholds). ``compare``: per pair of labels,
    the bins of its ratio."""

    names: tuple[str, ...]
    codes: np.ndarray
    full: np.ndarray
    kept_stride: np.ndarray
    grid_stride: np.ndarray
    weights: tuple[np.ndarray, ...]
    nb: int
    edges: np.ndarray
    edges_lo: np.ndarray
    edges_inv: np.ndarray
    log_scale: np.ndarray
    below: np.ndarray
    above: np.ndarray
    n_groups: int
    scales: dict[str, str] = dataclasses.field(default_factory=dict)
    compare: dict[tuple[str, str], RatioBins] = dataclasses.field(default_factory=dict)

    def empty(self) -> Partials:
        """Partials of every group with nothing folded yet."""
        return Partials.empty(self.n_groups, len(self.codes), self.nb, self.below.shape[1],
                              self.above.shape[1])

    def block_weights(self, start: tuple[int, ...], shape: tuple[int, ...],
                      weights: tuple[np.ndarray, ...] | None = None) -> np.ndarray:
        """Per dim d, the weights of the block's positions ``start[d] : start[d] +
        shape[d]`` as rows of a (ndim, max(shape)) array padded with ones (the kernels'
        layout); ``weights`` replaces :attr:`weights` (a comparison's)."""
        weights = self.weights if weights is None else weights
        out = np.ones((len(shape), max(shape)))
        for d, (a, n) in enumerate(zip(start, shape, strict=True)):
            out[d, :n] = weights[d][a:a + n]
        return out


def merge_ratio(a: tuple[np.ndarray, np.ndarray, np.ndarray],
                b: tuple[np.ndarray, np.ndarray, np.ndarray]
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two comparison partials ``(stats, hist counts, hist weights)`` combined: extremes by
    ``fmin``/``fmax``, everything else added."""
    sa, sb = a[0], b[0]
    out = sa + sb
    out[R_MIN], out[R_MAX] = np.fmin(sa[R_MIN], sb[R_MIN]), np.fmax(sa[R_MAX], sb[R_MAX])
    return out, a[1] + b[1], a[2] + b[2]
