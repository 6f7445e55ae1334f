"""The throughput family at measured serving points, and the least-squares fit of its
calibration factors to them (what ``sweep calibrate`` runs; see
:mod:`sweep.frontiers.calibrate` for the command's side: presets, report, preset file).

Each point is evaluated by the family's NumPy oracle (:func:`sweep.model.throughput
.reference`) with the LLM's and the platform's inputs, the point's GPUs per replica and
concurrency, and mean lengths. Where the concurrency exceeds what HBM holds (``max_batch``
at the given ``hbm_usable``), the batch is the measured running sequences instead: output
tokens/s of the replica x TPOT (TPOT is per output token, so this holds with speculative
decoding too). The fit minimizes the squared log error of
total tokens/s per GPU over ``mbu`` and ``step_overhead_ms`` (and ``mfu_prefill``), within
their valid ranges (:func:`scipy.optimize.least_squares`, trust-region reflective); each
factor's interval is +/- 1.96 standard errors from the Jacobian at the optimum.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sweep.model import throughput

#: The factors a fit may vary, with their valid ranges (the family's), in fitting order.
BOUNDS = {"mbu": (1e-4, 1.0), "step_overhead_ms": (0.0, 1.0e4), "mfu_prefill": (1e-4, 1.0)}
#: Where the least squares start.
SEED = {"mbu": 0.5, "step_overhead_ms": 3.0, "mfu_prefill": 0.5}


@dataclass
class FitResult:
    """Fitted factors (with intervals where the fit has more points than factors), the
    factors held fixed, and per point the batch
    used (``running`` sequences; ``batch_measured``: from the measurements) and the fitted
    throughputs."""

    factors: dict[str, float]
    intervals: dict[str, tuple[float, float]]
    fixed: dict[str, float]
    running: np.ndarray
    batch_measured: np.ndarray
    tput_per_gpu: np.ndarray
    intvty: np.ndarray


def roofline_inputs(llm: dict, hardware: dict, peak: dict, gpus, conc, isl: float,
                    osl: float, length_factor: float = 0.9, tokens_per_step: float = 1.0,
                    hbm_usable: float = 0.9, activation_gb: float = 0.0) -> dict:
    """The family's inputs at the points (arrays over points): ``llm``, ``hardware`` and
    ``peak``: what an LLM preset, a platform preset's hardware and its inputs at a precision
    set (dicts keyed by input name); ``gpus`` and ``conc`` per point; mean lengths
    ``length_factor`` x the nominal ``isl`` and ``osl``; aggregated serving, decode MFU 1."""
    conc = np.asarray(conc, dtype=np.float64)
    n = conc.shape
    x = {k: np.full(n, float(v)) for k, v in llm.items()}
    x.update({k: np.full(n, float(hardware[k])) for k in ("hbm_tb_s", "hbm_gb")})
    x["peak_pflops"] = np.full(n, float(peak["peak_pflops"]))
    x.update({
        "gpus_per_replica": np.asarray(gpus, dtype=np.float64), "concurrency": conc,
        "input_tokens": np.full(n, length_factor * isl),
        "output_tokens": np.full(n, length_factor * osl),
        "disaggregated": np.zeros(n), "tokens_per_step": np.full(n, float(tokens_per_step)),
        "hbm_usable": np.full(n, hbm_usable), "activation_gb": np.full(n, activation_gb),
        "mfu": np.ones(n),
    })
    return x


def predict(x: dict, factors: dict[str, float]) -> dict[str, np.ndarray]:
    """The roofline at ``x`` with ``factors``: total tokens/s per GPU, tokens/s per user and
    ``max_batch``."""
    size = np.shape(x["concurrency"])
    n = throughput.reference({**x, **{k: np.full(size, float(v)) for k, v in factors.items()}})
    return {"tput_per_gpu": np.asarray(n["tokens_per_s_per_gpu"]()),
            "intvty": np.asarray(n["tokens_per_s_per_user"]()),
            "max_batch": np.asarray(n["max_batch"]())}


def capacity(x: dict) -> np.ndarray:
    """The most sequences HBM holds at each point (NaN or < 1: the model does not fit)."""
    return predict(x, {"mbu": 1.0, "step_overhead_ms": 0.0, "mfu_prefill": 1.0})["max_batch"]


def fit(x: dict, tput_per_gpu, output_tput_per_gpu, tpot, fit_prefill: bool = False,
        mfu_prefill: float = 1.0) -> FitResult:
    """Fit the factors to the measured total tokens/s per GPU at ``x`` (module docstring).
    ``output_tput_per_gpu`` and ``tpot`` (seconds) give the running sequences where the
    concurrency exceeds capacity (NaN entries: the output share of the total at the mean
    lengths, and the point's ``1 / intvty`` must be passed by the caller)."""
    from scipy.optimize import least_squares

    names = ["mbu", "step_overhead_ms"] + (["mfu_prefill"] if fit_prefill else [])
    fixed = {} if fit_prefill else {"mfu_prefill": float(mfu_prefill)}
    measured = np.asarray(tput_per_gpu, dtype=np.float64)
    out = np.asarray(output_tput_per_gpu, dtype=np.float64)
    share = x["output_tokens"] / (x["input_tokens"] + x["output_tokens"])
    out = np.where(np.isnan(out), measured * share, out)
    over = ~(x["concurrency"] <= capacity(x))
    # TPOT is per output token: output tokens/s of the replica x TPOT is the batch
    running = out * x["gpus_per_replica"] * np.asarray(tpot)
    x = {**x, "batch": np.where(over, running, x["concurrency"])}
    lo = np.array([BOUNDS[k][0] for k in names])
    hi = np.array([BOUNDS[k][1] for k in names])

    def residuals(theta):
        pred = predict(x, dict(zip(names, theta, strict=True)) | fixed)["tput_per_gpu"]
        with np.errstate(all="ignore"):
            r = np.log(pred) - np.log(measured)
        return np.where(np.isfinite(r), r, 1e3)

    seed = np.clip([SEED[k] for k in names], lo, hi)
    sol = least_squares(residuals, seed, bounds=(lo, hi), method="trf", x_scale="jac",
                        xtol=1e-15, ftol=1e-15, gtol=1e-15, max_nfev=2000)
    factors = {k: float(v) for k, v in zip(names, sol.x, strict=True)}
    dof = len(measured) - len(names)
    intervals = {}
    if dof > 0:   # as many points as factors: the residual says nothing of the spread
        sigma2 = float(np.sum(sol.fun ** 2)) / dof
        se = np.sqrt(np.clip(np.diag(np.linalg.pinv(sol.jac.T @ sol.jac) * sigma2), 0, None))
        for (k, v), s, a, b in zip(factors.items(), se, lo, hi, strict=True):
            if math.isfinite(s):
                intervals[k] = (float(max(a, v - 1.96 * s)), float(min(b, v + 1.96 * s)))
    pred = predict(x, factors | fixed)
    return FitResult(factors, intervals, {"mfu": 1.0, **fixed}, x["batch"], over,
                     pred["tput_per_gpu"], pred["intvty"])
