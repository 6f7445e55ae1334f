"""Reading a measured frontier at a target interactivity, the same way on every backend.

The rule: throughput is interpolated monotonically in log-log space, by a PCHIP (piecewise
cubic Hermite, Fritsch-Carlson slopes, :class:`scipy.interpolate.PchipInterpolator`) of
``log(tokens/s per GPU)`` against ``log(tokens/s per user)``. It passes through every
measured point, is monotone between neighbours (a front's throughput falls as interactivity
rises) and never overshoots them. It is never extrapolated: below the lowest or above the
highest measured interactivity the value is NaN (and counted as such). A frontier of one
point is defined at that interactivity only.

For the kernels the interpolant is written as nodes of the sweep's model (see
:mod:`sweep.model.frontier`): per frontier, its breakpoints and the four coefficients of each
segment's cubic are inputs that the frontier axis sets per label; one node per segment
evaluates its cubic and a balanced tree of small nodes picks the segment by comparisons.
Frontiers with fewer points than the longest are padded with constant segments past their
last point, which are never reached inside their range except at the last point itself
(where they give its measured value exactly).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sweep.model import frontier
from sweep.model.frontier import input_names

#: Per series of the tables, the point field it interpolates.
FIELDS = {"t": "tput_per_gpu", "o": "output_tput_per_gpu"}


@dataclass(frozen=True)
class Table:
    """The interpolant of one frontier: raw range ``[low, high]`` of tokens/s per user,
    log breakpoints ``x`` (one per point) and per series (``t`` total, ``o`` output) the
    coefficients ``(a, b, c, d)`` of ``a + b u + c u^2 + d u^3`` on each segment, ``u`` the
    log distance from the segment's breakpoint (NaN rows where a series is unmeasured)."""

    low: float
    high: float
    x: np.ndarray
    coef: dict[str, np.ndarray]

    @property
    def n(self) -> int:
        """Points (segments, the last one constant)."""
        return int(self.x.shape[0])


def _coefficients(lx: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``(n, 4)`` segment coefficients of the log-log PCHIP through ``(lx, y)``; the last
    row is the constant at the last point."""
    n = lx.shape[0]
    out = np.zeros((n, 4))
    if not np.all(np.isfinite(y)) or not np.all(y > 0):
        out[:] = np.nan
        return out
    ly = np.log(y)
    if n >= 2:
        from scipy.interpolate import PchipInterpolator

        c = PchipInterpolator(lx, ly, extrapolate=False).c   # (4, n-1), highest power first
        out[:-1] = c[::-1].T
        out[:-1, 0] = ly[:-1]                                  # exact at each breakpoint
    out[-1] = (ly[-1], 0.0, 0.0, 0.0)
    return out


def table(frontier) -> Table:
    """The interpolant of a :class:`~sweep.frontiers.front.Frontier`. Where an aggregated
    frontier's source gives no output throughput, it is the total x OSL / (ISL + OSL) (the
    same GPUs produce both); a disaggregated one without it reads NaN."""
    x = frontier.column("intvty")
    lx = np.log(x)
    columns = {series: frontier.column(field) for series, field in FIELDS.items()}
    if not frontier.disagg:
        # aggregated serving: output and total tokens share the GPUs, so where the source
        # gives no output throughput it is the output share of the total
        share = frontier.osl / (frontier.isl + frontier.osl)
        columns["o"] = np.where(np.isnan(columns["o"]), columns["t"] * share, columns["o"])
    coef = {series: _coefficients(lx, y) for series, y in columns.items()}
    return Table(float(x[0]), float(x[-1]), lx, coef)


def evaluate(tab: Table, at, series: str = "t") -> np.ndarray:
    """Series ``series`` (``t`` total, ``o`` output tokens/s per GPU) read from the frontier
    at interactivities ``at`` (NumPy; NaN outside the measured range): the oracle of the
    kernels' nodes (:mod:`sweep.model.frontier`)."""
    at = np.asarray(at, dtype=np.float64)
    coef = tab.coef[series]
    with np.errstate(all="ignore"):
        u = np.log(np.where(at > 0, at, np.nan))
        seg = np.clip(np.searchsorted(tab.x, u, side="right") - 1, 0, tab.n - 1)
        t = u - tab.x[seg]
        a, b, c, d = (coef[seg, j] for j in range(4))
        value = np.exp(a + t * (b + t * (c + t * d)))
    inside = (at >= tab.low) & (at <= tab.high)
    return np.where(inside, value, np.nan)


# --------------------------------------------------------------------------- model inputs


def binds(tables: list[Table], n: int) -> dict[str, list[float]]:
    """Per table input of :func:`sweep.model.frontier.input_names` (``n`` >= every table's
    points), its value for each label's frontier (padded past a frontier's last point)."""
    out: dict[str, list[float]] = {name: [] for name in input_names(n)}
    _name = frontier.name
    for tab in tables:
        pad = n - tab.n
        x = np.concatenate([tab.x, np.full(pad, tab.x[-1])])
        out[_name("low")].append(tab.low)
        out[_name("high")].append(tab.high)
        for i in range(n):
            out[_name("x", i)].append(float(x[i]))
        for s, coef in tab.coef.items():
            last = coef[-1:]
            full = np.concatenate([coef, np.repeat(last, pad, axis=0)])
            for i in range(n):
                for j in range(4):
                    out[_name("c", i, s, j)].append(float(full[i, j]))
    return out


def outside(tab: Table, at: np.ndarray) -> np.ndarray:
    """Where interactivities ``at`` fall outside a frontier's measured range (bool)."""
    at = np.asarray(at, dtype=np.float64)
    return ~((at >= tab.low) & (at <= tab.high))
