"""Deterministic samples of the ``distributions`` of a sweep file, in any chunking.

Every function here is a pure function of the sweep file's ``sample`` section (method, ``n``,
``seed``) and of the sample indices asked for: sample ``i`` has the same values whether it is
drawn alone, in a chunk ``[start, stop)`` or with all the others, on any machine with the same
NumPy and SciPy. The methods:

``mc``
    NumPy ``Generator`` (PCG64) streams in fixed blocks of :data:`MC_BLOCK` samples, block
    ``k`` seeded from ``SeedSequence([seed, k])``.
``lhs``
    ``scipy.stats.qmc.LatinHypercube(d, seed=seed)``: the whole design of ``n`` samples is
    built once (it cannot be fast-forwarded), cached, and sliced.
``sobol``
    ``scipy.stats.qmc.Sobol(d, scramble=True, seed=seed)``, fast-forwarded to ``start``.
``saltelli``
    the base matrices A and B of Saltelli's scheme from a ``2 D``-dimensional scrambled
    Sobol' sequence, as ``SALib.sample.sobol.sample(..., calc_second_order=False,
    scramble=True, seed=seed)`` builds them.

Uniforms are kept inside ``[2**-53, 1 - 2**-53]`` so that no inverse CDF meets 0 or 1.
"""

from __future__ import annotations

import functools
import math
import threading

import numpy as np

from sweep.quiet import quiet
from sweep.spec.distributions import Distribution, ppf, probability_inside, support, truncation

#: Samples per independently seeded block of the ``mc`` method.
MC_BLOCK = 2**16
#: The methods that :func:`uniforms` and :func:`sample_block` draw.
METHODS = ("mc", "lhs", "sobol")
#: Per thread, the last Sobol' engine used and the index of its next point.
_ENGINES = threading.local()
_SOBOL_LOCK = threading.Lock()
_U_LOW = 2.0**-53
_U_HIGH = 1.0 - 2.0**-53


def _check_range(start: int, stop: int, n_total: int) -> None:
    if not 0 <= start <= stop <= n_total:
        raise ValueError(f"samples [{start}, {stop}) are not inside [0, {n_total})")


def _mc(n_dims: int, seed: int, start: int, stop: int) -> np.ndarray:
    out = np.empty((stop - start, n_dims), dtype=np.float64)
    if stop == start:
        return out
    for block in range(start // MC_BLOCK, (stop - 1) // MC_BLOCK + 1):
        first = block * MC_BLOCK
        lo, hi = max(start - first, 0), min(stop - first, MC_BLOCK)
        rng = np.random.default_rng(np.random.SeedSequence([seed, block]))
        # the first hi rows of the block: a Generator fills its output in stream order
        out[first + lo - start: first + hi - start] = rng.random((hi, n_dims))[lo:]
    return out


def _sobol(n_dims: int, seed: int, start: int, stop: int) -> np.ndarray:
    from scipy.stats import qmc

    if stop == start:
        return np.empty((0, n_dims), dtype=np.float64)
    # one thread at a time here (the engines), and the warning filter through sweep.quiet:
    # a chunk is rarely a power of 2 long; the whole sample is (checked by the config)
    with _SOBOL_LOCK, quiet("The balance properties of Sobol", UserWarning):
        # fast_forward costs O(skipped points): each thread keeps its engine and moves it
        # on from where its last chunk ended, so a thread that takes its chunks in
        # ascending order skips O(n) points in all (sweep.engine.sensitivity does)
        cached = getattr(_ENGINES, "sobol", {}).get((n_dims, seed))
        if cached is not None and cached[1] <= start:
            engine, position = cached
        else:
            engine, position = qmc.Sobol(d=n_dims, scramble=True, seed=seed), 0
        if start > position:
            engine.fast_forward(start - position)
        u = engine.random(stop - start)
        _ENGINES.sobol = {(n_dims, seed): (engine, stop)}  # one engine per thread at most
        return u


@functools.lru_cache(maxsize=2)   # a design is up to 2**22 x D float64
def _lhs_design(n_dims: int, seed: int, n_total: int) -> np.ndarray:
    from scipy.stats import qmc

    design = qmc.LatinHypercube(d=n_dims, seed=seed).random(n_total)
    design.flags.writeable = False
    return design


def uniforms(method: str, n_dims: int, seed: int, start: int, stop: int,
             n_total: int) -> np.ndarray:
    """Uniforms in (0, 1) of samples ``[start, stop)`` of an ``n_total``-sample design.

    Returns a new float64 array of shape ``(stop - start, n_dims)``: row ``j`` is sample
    ``start + j``, the same numbers whatever the chunk boundaries, and the same for the same
    ``(method, n_dims, seed, n_total)`` (``n_total`` matters only to ``lhs``, whose design
    is built whole). ``method`` is ``mc``, ``lhs`` or ``sobol`` (see the module notes).
    Values are clipped to ``[2**-53, 1 - 2**-53]``.
    """
    if n_dims < 1:
        raise ValueError(f"n_dims must be >= 1, got {n_dims}")
    _check_range(start, stop, n_total)
    if method == "mc":
        u = _mc(n_dims, seed, start, stop)
    elif method == "sobol":
        u = _sobol(n_dims, seed, start, stop)
    elif method == "lhs":
        u = np.array(_lhs_design(n_dims, seed, n_total)[start:stop])
    else:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    return np.clip(u, _U_LOW, _U_HIGH, out=u)


def _require_sample(spec) -> None:
    if spec.sample is None or not spec.distributions:
        raise ValueError("the sweep has no `sample` section with `distributions`")


# --------------------------------------------------------------------------- per label


def depends_on_labels(spec) -> bool:
    """Whether some distribution is given per label or relative to a value set elsewhere."""
    return any(d.per_label or d.relative is not None for d in spec.distributions.values())


def per_axis(spec, name: str) -> str | None:
    """The categorical axis whose labels the per-label parameters of ``name``'s
    distribution follow: its ``per``, else the file's only categorical axis; ``None`` when
    no parameter is given per label."""
    dist = spec.distributions[name]
    if not dist.per_label:
        return None
    if dist.per:
        return dist.per
    names = [n for n, a in spec.axes.items() if a.categorical]
    return names[0] if len(names) == 1 else None


def base_axis(axes, name: str) -> str | None:
    """The categorical axis that sets input ``name`` (``None``: no axis does)."""
    for a in axes:
        if a.categorical and name in a.binds:
            return a.name
    return None


def dependence(spec, axes) -> dict[str, tuple[str, ...]]:
    """Per sampled input, the categorical axes its values depend on (names, in axis order;
    empty for a distribution drawn the same for every label)."""
    out = {}
    for name, dist in spec.distributions.items():
        deps = {per_axis(spec, name)}
        if dist.relative is not None:
            deps.add(base_axis(axes, name))
        out[name] = tuple(a.name for a in axes if a.name in deps)
    return out


def base_value(spec, axes, name: str, labels: dict[str, int]) -> float:
    """The value a ``relative`` distribution of ``name`` multiplies: the label's value on
    the axis that sets it, else the file's constant."""
    axis = base_axis(axes, name)
    if axis is None:
        return float(spec.constants[name])
    a = next(a for a in axes if a.name == axis)
    return float(a.binds[name][labels[axis]])


def draw(spec, name: str, u: np.ndarray, labels: dict[str, int] | None = None,
         axes=None) -> np.ndarray:
    """The values of sampled input ``name`` at uniforms ``u`` for the labels ``labels``
    (``{axis: label index}``, needed where the distribution depends on them; ``axes``: the
    file's resolved axes, found when needed): the label's distribution, times the label's
    value for a ``relative`` one, truncated by default to the input's valid range."""
    dist = spec.distributions[name]
    meta = _meta(spec, name)
    if not (dist.per_label or dist.relative is not None):
        return ppf(dist, u, meta)
    labels = labels or {}
    per = per_axis(spec, name)
    if per is not None and per not in labels:
        raise ValueError(f"{name}: its distribution is given per label of {per}: say which")
    one = dist.for_label(labels[per]) if per is not None else dist.factor
    if dist.relative is None:
        return ppf(one, u, meta)
    if axes is None:
        from sweep.planning.axes import resolved_axes

        axes = resolved_axes(spec)
    on = base_axis(axes, name)
    if on is not None and on not in labels:
        raise ValueError(f"{name}: relative to its value on {on}: say which label")
    scale = base_value(spec, axes, name, labels)
    return ppf(one, u, _scaled(meta, scale)) * scale


def relative_problems(spec, axes) -> list[str]:
    """What is wrong with the ``relative`` distributions once the values they multiply are
    known (the axes resolved, presets included): each label's value must be > 0, and the
    factor's range times it inside the input's valid range. One line each."""
    from sweep.spec.distributions import input_meta

    out = []
    for name, dist in spec.distributions.items():
        if dist.relative is None:
            continue
        meta = input_meta(_meta(spec, name))
        on = base_axis(axes, name)
        per = per_axis(spec, name)
        axis = next((a for a in axes if a.name == on), None)
        positions = range(len(axis)) if axis is not None else [0]
        for i in positions:
            labels = {on: i} if on is not None else {}
            where = f"{on} {axis.coord[i]}: " if axis is not None else ""
            if per is not None and per != on:
                choices = range(len(next(a for a in axes if a.name == per)))
            else:
                choices = [labels.get(per, 0)] if per is not None else [None]
            b = base_value(spec, axes, name, labels)
            if not b > 0:
                out.append(f"distributions.{name}.relative: {where}{name} is {b:g}; a "
                           "factor needs a value > 0 to multiply")
                continue
            for j in choices:
                factor = dist.for_label(j) if j is not None else dist.factor
                lo, hi = support(factor, _scaled(meta, b))
                if meta is not None and not (meta.accepts(lo * b) and meta.accepts(hi * b)):
                    out.append(f"distributions.{name}.relative: {where}{b:g} x [{lo:g}, "
                               f"{hi:g}] = [{lo * b:g}, {hi * b:g}], outside the valid range "
                               f"of {name}: {meta.expected()}")
    return out


def _scaled(meta, scale: float):
    """The input's valid range in units of a factor on ``scale`` (the default truncation
    of a relative normal or lognormal)."""
    import dataclasses

    from sweep.spec.distributions import input_meta

    spec = input_meta(meta)
    if spec is None or not scale > 0:
        return None
    return dataclasses.replace(spec, low=spec.low / scale, high=spec.high / scale)


def sample_uniforms(spec, start: int, stop: int) -> np.ndarray:
    """The uniforms behind samples ``[start, stop)`` of a ``mc``, ``lhs`` or ``sobol``
    sample, one column per distribution (what :func:`sample_block` maps; the same for every
    label, so that a caller drawing several labels draws them once)."""
    _require_sample(spec)
    s = spec.sample
    if s.method not in METHODS:
        raise ValueError(f"method {s.method!r} draws Saltelli matrices: use saltelli_block")
    return uniforms(s.method, len(spec.distributions), s.seed, start, stop, s.n)


def sample_block(spec, start: int, stop: int, labels: dict[str, int] | None = None,
                 axes=None, u: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The sampled inputs of samples ``[start, stop)`` (methods ``mc``, ``lhs``, ``sobol``).

    ``spec`` is a :class:`sweep.spec.config.SweepSpec` with a ``sample`` section. Returns, per
    input of ``spec.distributions`` (in that order), a float64 array of ``stop - start``
    values in the input's units, each inside the input's valid range. Deterministic and
    independent of chunking: sample ``i`` is the same in any ``[start, stop)`` that holds it.
    Column ``k`` of :func:`uniforms` (``n_dims`` = the number of distributions) feeds the
    ``k``-th distribution's :func:`sweep.spec.distributions.ppf`: the same uniforms for
    every label (common random numbers), through each label's distribution where it
    depends on them (``labels``: ``{axis: label index}``, see :func:`draw`). ``u``: those
    uniforms when the caller has drawn them already (:func:`sample_uniforms`).
    """
    u = sample_uniforms(spec, start, stop) if u is None else u
    return {name: draw(spec, name, u[:, k], labels, axes)
            for k, name in enumerate(spec.distributions)}


def _meta(spec, name: str):
    """The input ``name`` of ``spec``'s model (a file's own input included), for the
    default truncation of its distribution."""
    from sweep.model import model_for

    return model_for(spec).bindable_specs.get(name, name)


def saltelli_uniforms(spec, start: int, stop: int) -> np.ndarray:
    """The ``2 D`` columns of scrambled Sobol' uniforms behind base rows ``[start, stop)``
    of Saltelli's A and B (see :func:`saltelli_block`; the same for every label)."""
    _require_sample(spec)
    s = spec.sample
    return uniforms("sobol", 2 * len(spec.distributions), s.seed, start, stop, s.n)


def saltelli_block(spec, start: int, stop: int, labels: dict[str, int] | None = None,
                   axes=None, u: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Saltelli's base matrices ``A`` and ``B`` for base rows ``[start, stop)``.

    Each is a float64 array of shape ``(stop - start, D)`` in input units, columns in the
    order of ``spec.distributions`` (``D`` of them). Both come from one ``2 D``-dimensional
    scrambled Sobol' sequence seeded with ``sample.seed``: ``A`` from its first ``D``
    columns, ``B`` from its last ``D``, exactly as ``SALib.sample.sobol.sample(problem, N,
    calc_second_order=False, scramble=True, seed=seed)`` builds them (SALib then evaluates,
    per base row ``j``, ``A_j``, ``AB_j1 .. AB_jD`` and ``B_j``, where ``AB_ji`` is ``A_j``
    with column ``i`` taken from ``B_j``). Deterministic and independent of chunking.
    ``labels``: as for :func:`sample_block`; ``u``: :func:`saltelli_uniforms` when drawn
    already.
    """
    names = list(spec.distributions)
    d = len(names)
    u = saltelli_uniforms(spec, start, stop) if u is None else u
    a = np.empty((stop - start, d), dtype=np.float64)
    b = np.empty((stop - start, d), dtype=np.float64)
    for k, name in enumerate(names):
        a[:, k] = draw(spec, name, u[:, k], labels, axes)
        b[:, k] = draw(spec, name, u[:, d + k], labels, axes)
    return a, b


def saltelli_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The model evaluations of Saltelli's scheme (first and total order) in SALib's row
    order: per base row ``j``, ``A_j``, ``AB_j1 .. AB_jD``, ``B_j``; shape
    ``(m * (D + 2), D)`` for ``m`` base rows."""
    m, d = a.shape
    out = np.repeat(a[:, None, :], d + 2, axis=1)
    idx = np.arange(d)
    out[:, 1 + idx, idx] = b[:, idx]
    out[:, d + 1, :] = b
    return out.reshape(m * (d + 2), d)


def n_evaluations(spec) -> int:
    """Model evaluations of the sample (per combination of the categorical axes' labels):
    ``n`` for ``mc``, ``lhs``, ``sobol``; ``n * (D + 2)`` for ``saltelli`` with ``D``
    distributions (A, B and one mixed matrix per input)."""
    _require_sample(spec)
    n = spec.sample.n
    if spec.sample.method == "saltelli":
        return n * (len(spec.distributions) + 2)
    return n


#: Probability a lognormal's truncation may remove and still count as SALib's 'lognorm'.
_LOGNORM_TAIL = 1e-12


def _salib_entry(name: str, dist: Distribution) -> tuple[list[float], str]:
    kind, p = dist.kind, dist.params
    if kind == "uniform":
        return [p.low, p.high], "unif"
    if kind == "loguniform":
        return [p.low, p.high], "logunif"
    if kind == "triangular" and p.mode < p.high:
        return [p.low, p.high, (p.mode - p.low) / (p.high - p.low)], "triang"
    if kind == "normal":
        low, high = truncation(dist, name)
        return [low, high, p.mean, p.sd], "truncnorm"
    if kind == "lognormal" and probability_inside(dist, name) >= 1.0 - _LOGNORM_TAIL:
        return [math.log(p.median), p.sigma], "lognorm"
    raise ValueError(f"{name}: SALib has no equivalent of this {kind} distribution "
                     f"(support {support(dist, name)})")


def salib_problem(spec) -> dict:
    """The SALib problem of the sample: ``num_vars``, ``names`` (the inputs of
    ``spec.distributions``, in order), ``bounds`` and ``dists`` in SALib's conventions
    (``unif``, ``logunif``, ``triang``, ``truncnorm``; ``lognorm`` when the truncation
    removes under 1e-12 of it). ``ValueError`` for a distribution SALib cannot express
    (discrete, a triangular with its mode at ``high``, a noticeably truncated lognormal)."""
    _require_sample(spec)
    if depends_on_labels(spec):
        raise ValueError("the distributions depend on the labels: SALib's problem has one "
                         "distribution per input")
    names = list(spec.distributions)
    entries = [_salib_entry(name, spec.distributions[name]) for name in names]
    return {"num_vars": len(names), "names": names,
            "bounds": [e[0] for e in entries], "dists": [e[1] for e in entries]}
