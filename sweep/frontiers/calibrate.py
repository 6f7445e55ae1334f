"""Fitting the roofline's calibration to a measured frontier (``sweep calibrate``).

The throughput family (:mod:`sweep.model.throughput`) is evaluated at each measured point:
the LLM preset's architecture at a weight format and a KV dtype, the platform preset's HBM
and peak FLOP/s, the point's GPUs per replica (its TP, unless given), its concurrency and
the frontier's mean lengths (``length_factor`` x the nominal ISL and OSL: InferenceX draws
lengths uniformly in ``[0.8 L, L]``, mean 0.9 L). Where the concurrency exceeds what HBM
holds (the roofline's ``max_batch``), the batch is the measured running sequences instead:
output tokens/s of the replica x TPOT.

The fit (:mod:`sweep.model.roofline_fit`): the achieved fraction of HBM bandwidth and the
fixed step cost (and the prefill MFU with ``fit_prefill``) by least squares on the
logarithm of tokens/s per GPU. The interval of each factor is its estimate +/- 1.96
standard errors from the Jacobian at the optimum (clipped to the valid range): the spread a
``{calibration: NAME}`` distribution draws from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from sweep.frontiers.front import Frontier

#: Relative error above which a fit is called poor.
POOR_FIT = 0.25
#: What the platform preset's precision is for each weight format.
PRECISION_OF = {"bf16": "bf16", "fp8": "fp8", "nvfp4": "fp4", "mxfp4": "fp4"}


class CalibrationError(ValueError):
    """A fit that cannot be made (too few points, missing TP, an unknown preset ...)."""


@dataclass
class Fit:
    """The result of :func:`fit`: fitted factors, their intervals, per-point table."""

    frontier: Frontier
    model: str
    hardware: str
    weights: str
    kv: str
    factors: dict[str, float]
    fixed: dict[str, float]
    intervals: dict[str, tuple[float, float]]
    points: list[dict] = field(default_factory=list)

    @property
    def errors(self) -> np.ndarray:
        """Relative error of the fitted tokens/s per GPU, per point."""
        return np.array([p["tput_error"] for p in self.points])

    @property
    def max_error(self) -> float:
        """The largest relative error (absolute value) of tokens/s per GPU."""
        return float(np.max(np.abs(self.errors)))

    @property
    def median_error(self) -> float:
        """The median relative error (absolute value) of tokens/s per GPU."""
        return float(np.median(np.abs(self.errors)))

    @property
    def poor(self) -> bool:
        """Whether some point is off by more than :data:`POOR_FIT`."""
        return not self.max_error <= POOR_FIT


def _presets(model: str, hardware: str, weights: str, kv: str):
    from sweep.spec.presets import load_models, load_presets, model_binds

    models, presets = load_models(), load_presets()
    if model not in models:
        raise CalibrationError(f"--model {model!r}: an LLM preset, one of "
                               + ", ".join(models))
    if hardware not in presets:
        raise CalibrationError(f"--hardware {hardware!r}: a platform preset, one of "
                               + ", ".join(presets))
    precision = PRECISION_OF[weights]
    p = presets[hardware]
    hw, peak = p.hardware(), p.inputs(precision)
    missing = [k for k, v in {**hw, **peak}.items() if v is None]
    if missing:
        raise CalibrationError(f"--hardware {hardware!r}: the preset has no "
                               f"{', '.join(missing)} at {precision} (weights {weights}); no "
                               f"peak FLOP/s at {precision} on this platform")
    llm = {k: v[0] for k, v in model_binds([model], weights, kv).items()}
    return llm, hw, peak


def fit(frontier: Frontier, model: str, hardware: str, *, weights: str | None = None,
        kv: str = "fp8", replica_gpus: int | None = None, fit_prefill: bool = False,
        prefill_mfu: float = 1.0, length_factor: float = 0.9, step_tokens: float = 1.0,
        usable_hbm: float = 0.9, reserved_gb: float = 0.0) -> Fit:
    """Fit the roofline's calibration to ``frontier`` (see
    :mod:`sweep.model.roofline_fit`): the LLM preset ``model`` at ``weights`` (its own
    format by default) and ``kv``, on platform preset ``hardware``, each point at its TP
    unless ``replica_gpus`` is given; ``prefill_mfu`` (fixed unless ``fit_prefill``),
    ``step_tokens`` (tokens per step), ``usable_hbm`` and ``reserved_gb`` (HBM fraction
    and GB per replica beyond weights and KV) are the roofline's inputs of those
    meanings. Raises :class:`CalibrationError` for a fit that
    cannot be made: fewer points than factors, a disaggregated or speculative-decoding
    frontier without what it needs, unknown presets, a model that does not fit in HBM."""
    from sweep.model import roofline_fit
    from sweep.spec.presets import load_models

    for what, value, ok, expected in (
            ("--mfu-prefill", prefill_mfu, 0 < prefill_mfu <= 1, "a fraction in (0, 1]"),
            ("--length-factor", length_factor, 0 < length_factor <= 1, "a fraction in (0, 1]"),
            ("--tokens-per-step", step_tokens, 1 <= step_tokens <= 64, "a number in [1, 64]"),
            ("--gpus-per-replica", replica_gpus, replica_gpus is None or replica_gpus >= 1,
             "a whole number >= 1")):
        if not ok:
            raise CalibrationError(f"{what} {value!r}: expected {expected}")
    if frontier.disagg:
        raise CalibrationError(f"{frontier.key}: a disaggregated frontier (its throughput per "
                               "GPU counts prefill GPUs the roofline's decode pool does not "
                               "have); calibrate on aggregated serving")
    if frontier.spec_decoding != "none" and step_tokens == 1.0:
        raise CalibrationError(f"{frontier.key}: measured with speculative decoding "
                               f"({frontier.spec_decoding}); give --tokens-per-step S (the "
                               "mean tokens accepted per step), or calibrate on points "
                               "without it")
    if weights is None:   # the frontier's precision, else the LLM's own format
        own = load_models()[model].weights if model in load_models() else "fp8"
        weights = {"fp8": "fp8", "bf16": "bf16"}.get(frontier.precision.lower(), own)
        if frontier.precision.lower() in ("fp4", "nvfp4", "mxfp4"):
            weights = own if own in ("nvfp4", "mxfp4") else (
                "mxfp4" if frontier.precision.lower() == "mxfp4" else "nvfp4")
    n, wanted = len(frontier.points), 2 + int(fit_prefill)
    if n < wanted:
        raise CalibrationError(f"{frontier.key}: {n} measured point(s) for {wanted} factors; "
                               "a fit needs at least as many points as factors")
    llm, hw, peak = _presets(model, hardware, weights, kv)
    gpus = []
    for pt in frontier.points:
        g = replica_gpus or pt.get("gpus") or pt.get("tp")
        if not g:
            raise CalibrationError(f"the point of line {pt.get('line')} has no TP (GPUs per "
                                   "replica): give --gpus-per-replica N")
        gpus.append(float(g))
    x = roofline_fit.roofline_inputs(llm, hw, peak, gpus, frontier.column("conc"),
                                     frontier.isl, frontier.osl, length_factor, step_tokens,
                                     usable_hbm, reserved_gb)
    room = roofline_fit.capacity(x)
    if np.any(~(room >= 1)):
        raise CalibrationError(f"{model} at {weights} does not fit in the HBM of {hardware} "
                               f"x {int(min(gpus))} GPU(s): check --gpus-per-replica and "
                               "--weights")
    tpot = frontier.column("tpot")
    tpot = np.where(np.isnan(tpot), 1.0 / frontier.column("intvty"), tpot)
    r = roofline_fit.fit(x, frontier.column("tput_per_gpu"),
                         frontier.column("output_tput_per_gpu"), tpot, fit_prefill,
                         prefill_mfu)
    if not (np.all(np.isfinite(r.tput_per_gpu)) and np.all(np.isfinite(r.intvty))):
        raise CalibrationError(f"{frontier.key}: the roofline gives no finite throughput at "
                               "some point with these presets and options (check "
                               "--weights, --kv and --gpus-per-replica)")
    points = []
    for i, pt in enumerate(frontier.points):
        mt, ft = float(pt["tput_per_gpu"]), float(r.tput_per_gpu[i])
        mu, fu = float(pt["intvty"]), float(r.intvty[i])
        points.append({"line": pt.get("line"), "conc": pt["conc"], "gpus": int(gpus[i]),
                       "sequences": float(r.running[i]),
                       "batch_measured": bool(r.batch_measured[i]),
                       "tput_per_gpu": mt, "fitted_tput_per_gpu": ft,
                       "tput_error": ft / mt - 1.0, "intvty": mu, "fitted_intvty": fu,
                       "intvty_error": fu / mu - 1.0})
    return Fit(frontier, model, hardware, weights, kv, r.factors, r.fixed, r.intervals,
               points)


def report(result: Fit) -> list[str]:
    """The fit in words: factors with their intervals, a table per point, the errors."""
    f = result.frontier
    lines = [f"calibration of {result.model} ({result.weights} weights, {result.kv} KV) on "
             f"{result.hardware} to frontier {f.key} ({len(f.points)} points, "
             f"{f.isl}/{f.osl} tokens)"]
    for k, v in result.factors.items():
        if k in result.intervals:
            a, b = result.intervals[k]
            lines.append(f"  {k:<17} {v:.4g}   (95 % interval {a:.4g}-{b:.4g})")
        else:
            lines.append(f"  {k:<17} {v:.4g}   (no interval: as many points as factors)")
    for k, v in result.fixed.items():
        lines.append(f"  {k:<17} {v:.4g}   (fixed)")
    head = ["line", "conc", "GPUs", "running", "tok/s/GPU meas", "fitted", "error",
            "tok/s/user meas", "fitted", "error"]
    rows = [head]
    for p in result.points:
        rows.append([str(p["line"]), f"{p['conc']:g}", str(p["gpus"]),
                     f"{p['sequences']:.4g}" + ("*" if p["batch_measured"] else ""),
                     f"{p['tput_per_gpu']:,.1f}", f"{p['fitted_tput_per_gpu']:,.1f}",
                     f"{p['tput_error']:+.1%}", f"{p['intvty']:,.2f}",
                     f"{p['fitted_intvty']:,.2f}", f"{p['intvty_error']:+.1%}"])
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    for j, r in enumerate(rows):
        lines.append("  " + "  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)))
        if j == 0:
            lines.append("  " + "  ".join("-" * w for w in widths))
    if any(p["batch_measured"] for p in result.points):
        lines.append("  * running sequences from measured output tokens/s x TPOT (the "
                     "concurrency exceeds what HBM holds); elsewhere the concurrency")
    lines.append(f"  error of tokens/s per GPU: max {result.max_error:.1%}, median "
                 f"{result.median_error:.1%}")
    if result.poor:
        lines.append(f"  poor fit: some point is off by more than {POOR_FIT:.0%}; the roofline "
                     "with one set of factors does not describe this frontier well (mixed "
                     "stacks, a changing efficiency with batch, or wrong presets)")
    return lines


def preset(result: Fit, name: str) -> dict:
    """The fit as a calibration preset (the fields of ``calibrations.yaml``), with the
    frontier's provenance."""
    from sweep.spec.presets import CALIBRATION_INPUTS

    f = result.frontier
    entry: dict = {
        "description": f"fitted by `sweep calibrate` to frontier {f.key}: {result.model} "
                       f"({result.weights} weights, {result.kv} KV) on {result.hardware}",
        "source": f"measured frontier {f.key} from {f.source.get('file', '?')} (sha256 "
                  f"{f.source.get('sha256', '?')[:16]}); max error {result.max_error:.1%}, "
                  f"median {result.median_error:.1%} over {len(f.points)} points",
        "date": datetime.now(UTC).strftime("%Y-%m"),
    }
    for k in CALIBRATION_INPUTS:
        if k in result.factors:
            v = result.factors[k]
            a, b = result.intervals.get(k, (v, v))
            entry[k] = {"value": v, "low": a, "high": b,
                        "note": "fitted (interval: +/- 1.96 standard errors)"
                        if k in result.intervals else
                        "fitted; no interval (as many points as factors)"}
        else:
            v = result.fixed[k]
            entry[k] = {"value": v, "low": v, "high": v, "note": "fixed, not fitted"}
    return {"calibration": entry,
            "fit": {"frontier": f.key, "model": result.model, "hardware": result.hardware,
                    "weights": result.weights, "kv": result.kv,
                    "max_error": result.max_error, "median_error": result.median_error,
                    "frontier_source": f.source, "points": result.points}}


def check_name(name: str) -> None:
    """Refuse a calibration name that is not a plain name or that a shipped preset has."""
    import re

    from sweep.spec.presets import load_calibrations

    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$", name):
        raise CalibrationError(f"--name {name!r}: letters, digits, '.', '-' and '_'")
    if name in load_calibrations():
        raise CalibrationError(f"--name {name!r}: a shipped calibration preset has that name; "
                               "choose another")


def write_preset(result: Fit, name: str, folder: str | Path) -> Path:
    """Write :func:`preset` to ``folder/calibrations/<name>.yaml`` atomically (a sweep file
    whose ``frontiers`` is ``folder`` can then use ``calibrations: [name]``)."""
    import yaml

    from sweep.spec.presets import USER_CALIBRATIONS
    from sweep.textfile import write_text_atomic

    check_name(name)
    target = Path(folder) / USER_CALIBRATIONS / f"{name}.yaml"
    write_text_atomic(target, "# written by `sweep calibrate`: a calibration fitted to a "
                      "measured frontier\n" + yaml.safe_dump(preset(result, name),
                                                            sort_keys=False,
                                                            allow_unicode=True))
    return target
