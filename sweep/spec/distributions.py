"""Distributions of model inputs for sample mode: the sweep file's models, ``ppf`` and ``support``.

A sweep file's ``distributions:`` section maps an input name to exactly one distribution::

    pue: {normal: {mean: 1.25, sd: 0.08, low: 1.05, high: 1.6}}

This module holds the pydantic models of those entries (their checks against the inputs' valid
ranges live in :mod:`sweep.spec.validation`), :func:`ppf`, which turns uniforms in (0, 1) into
values of a distribution, and :func:`support`, the interval the values lie in. It also holds
the small field types that the whole sweep file shares (:data:`Number`, :data:`Integer`), so
that :mod:`sweep.spec.config` can import this module without a cycle.

Truncation: ``normal`` and ``lognormal`` are always truncated, to their ``low``/``high`` when
given, else to the valid range of the input they are for (so that every sample is a valid
input); pass the input's name to :func:`ppf` and :func:`support` for that default.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, BeforeValidator, ConfigDict

from sweep.model import INPUT_SPECS, Input

_SCIENTIFIC = re.compile(r"^[+-]?\d+(\.\d*)?[eE][+-]?\d+$")


def _number(value: Any) -> Any:
    # No silent coercion of true/false or of quoted text into numbers; the one string let
    # through is PyYAML's reading of 1e3 (YAML 1.1 wants a dot) as text.
    if isinstance(value, bool):
        raise ValueError("a number, not true/false")
    if isinstance(value, str):
        if _SCIENTIFIC.match(value.strip()):
            return float(value)
        raise ValueError("a number, not text")
    return value


def _integer(value: Any) -> Any:
    if isinstance(value, bool | str):
        raise ValueError("a whole number, not true/false or text")
    return value


#: A finite number of the sweep file (no true/false, no quoted text except ``1e3``).
Number = Annotated[float, BeforeValidator(_number)]
#: A whole number of the sweep file (no true/false, no text).
Integer = Annotated[int, BeforeValidator(_integer)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)


#: A distribution parameter: one number, or one per label of a categorical axis
#: (``median: [1300, 5500]``; see :meth:`Distribution.for_label`).
Param = Number | list[Number]


class _Params(_Strict):
    def lists(self) -> dict[str, list[float]]:
        """The parameters given per label (as lists)."""
        return {k: v for k, v in self if isinstance(v, list)}

    def at(self, index: int) -> _Params:
        """The parameters of label ``index``: each list replaced by its ``index``-th value."""
        return self.model_copy(update={k: v[index] for k, v in self.lists().items()})


class Uniform(_Params):
    """Uniform on ``[low, high]``."""

    low: Param
    high: Param


class LogUniform(_Params):
    """Log-uniform on ``[low, high]`` (``low > 0``): ``ln X`` is uniform."""

    low: Param
    high: Param


class Triangular(_Params):
    """Triangular on ``[low, high]`` with its peak at ``mode``."""

    low: Param
    mode: Param
    high: Param


class Normal(_Params):
    """Normal with ``mean`` and standard deviation ``sd``, truncated to ``[low, high]``
    (default: the input's valid range)."""

    mean: Param
    sd: Param
    low: Param | None = None
    high: Param | None = None


class LogNormal(_Params):
    """Lognormal: ``ln X ~ N(ln median, sigma**2)``, truncated to ``[low, high]`` (default:
    the input's valid range)."""

    median: Param
    sigma: Param
    low: Param | None = None
    high: Param | None = None


class Discrete(_Params):
    """The ``values`` with probabilities ``probs`` (default: equal weights); never per
    label."""

    values: list[Number]
    probs: list[Number] | None = None

    def lists(self) -> dict[str, list[float]]:
        return {}


#: The distribution kinds, in the order the sweep file's messages list them
#: (``relative`` holds another distribution: a factor on the value set elsewhere).
KINDS: tuple[str, ...] = ("uniform", "loguniform", "triangular", "normal", "lognormal",
                          "discrete", "relative")


class Distribution(_Strict):
    """One input's distribution: exactly one of the kinds in :data:`KINDS` (checked with the
    rest of the sweep file in :mod:`sweep.spec.validation`).

    Per label: a parameter given as a list holds one value per label of the categorical
    axis ``per`` (default: the file's only categorical axis). Relative: ``relative: {KIND:
    {...}}`` draws a factor, and the input is that factor times the value the axis (per
    label) or a constant sets (``gpu_hour_usd: {relative: {uniform: {low: 0.8, high:
    1.2}}}`` is +/- 20 % around each label's price)."""

    uniform: Uniform | None = None
    loguniform: LogUniform | None = None
    triangular: Triangular | None = None
    normal: Normal | None = None
    lognormal: LogNormal | None = None
    discrete: Discrete | None = None
    relative: Distribution | None = None
    #: the categorical axis whose labels the parameters given as lists follow
    per: str | None = None

    @property
    def kinds(self) -> list[str]:
        """Which kinds are given (one in a valid file)."""
        return [k for k in KINDS if getattr(self, k) is not None]

    @property
    def kind(self) -> str:
        """The kind given; ``ValueError`` unless exactly one is."""
        kinds = self.kinds
        if len(kinds) != 1:
            raise ValueError(f"exactly one distribution kind, got {kinds or 'none'}")
        return kinds[0]

    @property
    def params(self) -> BaseModel:
        """The parameters of the kind given (e.g. a :class:`Uniform`; for ``relative``, the
        factor's :class:`Distribution`)."""
        return getattr(self, self.kind)

    @property
    def factor(self) -> Distribution:
        """The distribution values are drawn from: the factor's for ``relative``, else this."""
        return self.relative if self.relative is not None else self

    @property
    def per_label(self) -> dict[str, list[float]]:
        """The parameters given per label, as lists (of the factor, for ``relative``)."""
        f = self.factor
        return f.params.lists() if len(f.kinds) == 1 and f.kind != "relative" else {}

    def for_label(self, index: int) -> Distribution:
        """The factor's distribution (see :attr:`factor`) for label ``index`` of the
        ``per`` axis: every parameter given as a list replaced by its ``index``-th value."""
        f = self.factor
        if not self.per_label:
            return f
        return Distribution(**{f.kind: f.params.at(index)})


# --------------------------------------------------------------------------- numbers


def input_meta(name) -> Input | None:
    """The input ``name`` stands for: an :class:`~sweep.model.Input` given as such (a sweep
    file's own input), else the registered input of that name, else ``None``."""
    if name is None or isinstance(name, Input):
        return name
    return INPUT_SPECS.get(name)


def truncation(dist: Distribution, name: str | None = None) -> tuple[float, float]:
    """The truncation bounds of a normal or lognormal: ``low``/``high`` when given, else the
    valid range of input ``name`` (else unbounded). Other kinds: their support."""
    p = dist.params
    if dist.kind not in ("normal", "lognormal"):
        return support(dist)
    spec = input_meta(name)
    low = p.low if p.low is not None else (spec.low if spec else -math.inf)
    high = p.high if p.high is not None else (spec.high if spec else math.inf)
    return float(low), float(high)


def support(dist: Distribution, name: str | None = None) -> tuple[float, float]:
    """``(low, high)``: the closed interval every value of ``dist`` lies in (same units as its
    input). ``name``, the input the distribution is for, gives the default truncation of a
    normal or lognormal (the input's valid range)."""
    kind, p = dist.kind, dist.params
    if kind in ("uniform", "loguniform", "triangular"):
        return float(p.low), float(p.high)
    if kind == "discrete":
        return float(min(p.values)), float(max(p.values))
    low, high = truncation(dist, name)
    if kind == "lognormal":
        low = max(low, 0.0)
    return low, high


def _standard_bounds(dist: Distribution, name: str | None) -> tuple[float, float, float, float]:
    """``(a, b, loc, scale)``: a normal or lognormal's truncation in standard units of the
    (log-space) normal."""
    p = dist.params
    low, high = truncation(dist, name)
    if dist.kind == "normal":
        loc, scale = float(p.mean), float(p.sd)
    else:
        loc, scale = math.log(p.median), float(p.sigma)
        low = math.log(low) if low > 0 else -math.inf
        high = math.log(high) if high > 0 else -math.inf
    return (low - loc) / scale, (high - loc) / scale, loc, scale


def probability_inside(dist: Distribution, name: str | None = None) -> float:
    """For a normal or lognormal: the probability of its truncation interval under the
    untruncated distribution (1.0 for the other kinds)."""
    from scipy import special  # imported on use: the sweep file's models load without SciPy

    if dist.kind not in ("normal", "lognormal"):
        return 1.0
    a, b, _, _ = _standard_bounds(dist, name)
    # the upper tail is computed as a lower tail when both bounds are above the mean
    if a > 0:
        return float(special.ndtr(-a) - special.ndtr(-b))
    return float(special.ndtr(b) - special.ndtr(a))


def discrete_probs(dist: Discrete) -> np.ndarray:
    """The probabilities of a discrete distribution's values (equal without ``probs``),
    normalized to sum 1."""
    if dist.probs is None:
        return np.full(len(dist.values), 1.0 / len(dist.values))
    probs = np.asarray(dist.probs, dtype=np.float64)
    return probs / probs.sum()


def ppf(dist: Distribution, u: np.ndarray, name: str | None = None) -> np.ndarray:
    """The values of ``dist`` at probabilities ``u`` (its inverse CDF), vectorised.

    ``u`` holds uniforms in (0, 1), any shape; the result is a new float64 array of that
    shape, in the units of the input, inside :func:`support` (rounding is clipped away).
    ``name`` is the input the distribution is for (default truncation of normal/lognormal).
    Deterministic: the same ``u`` gives the same values. A discrete distribution maps ``u``
    to the first value whose cumulative probability exceeds it.
    """
    from scipy import special, stats  # imported on use: the models load without SciPy

    u = np.asarray(u, dtype=np.float64)
    kind, p = dist.kind, dist.params
    if kind == "uniform":
        # the same arithmetic as SALib's 'unif' scaling, so that Saltelli matrices match it
        x = u * (p.high - p.low) + p.low
    elif kind == "loguniform":
        lo, hi = math.log(p.low), math.log(p.high)
        x = np.exp(u * (hi - lo) + lo)
    elif kind == "triangular":
        a, m, b = float(p.low), float(p.mode), float(p.high)
        fc = (m - a) / (b - a)
        left = a + np.sqrt(u * (b - a) * (m - a))
        right = b - np.sqrt((1.0 - u) * (b - a) * (b - m))
        x = np.where(u < fc, left, right)
    elif kind in ("normal", "lognormal"):
        a, b, loc, scale = _standard_bounds(dist, name)
        if math.isinf(a) and math.isinf(b):
            x = loc + scale * special.ndtri(u)
        else:
            x = stats.truncnorm.ppf(u, a, b, loc=loc, scale=scale)
        if kind == "lognormal":
            x = np.exp(x)
    else:
        values = np.asarray(p.values, dtype=np.float64)
        cdf = np.cumsum(discrete_probs(p))
        cdf[-1] = 1.0
        index = np.searchsorted(cdf, u, side="right")
        x = values[np.minimum(index, len(values) - 1)]
    low, high = support(dist, name)
    return np.clip(np.asarray(x, dtype=np.float64), low, high)


Distribution.model_rebuild()

__all__ = ["KINDS", "Discrete", "Distribution", "Integer", "LogNormal", "LogUniform", "Normal",
           "Number", "Triangular", "Uniform", "discrete_probs", "ppf", "probability_inside",
           "support", "truncation"]
