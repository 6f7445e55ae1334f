"""Presets, read from data files with a source and a date for every number: platforms
(price, all-in power, TDP, HBM, peak FLOPS; ``sweep/data/presets.yaml``), LLMs (the
throughput family's model inputs; ``models.yaml``) and calibration regimes (achieved
fractions of peak and the fixed step cost; ``calibrations.yaml``).

A categorical axis picks them: ``presets:`` (platforms, at a ``precision``), ``models:``
(LLMs, at a ``weights`` format and a ``kv`` dtype) and ``calibrations:``; a distribution
``{calibration: NAME}`` draws one factor from a regime's measured spread.
"""

from __future__ import annotations

import contextvars
import functools
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

PRECISIONS = ("fp4", "fp8", "bf16")

#: The inputs a platform preset always sets, and the preset field each comes from.
PRESET_INPUTS = {
    "gpu_hour_usd": "gpu_hour_usd",
    "kw_per_gpu": "kw_per_gpu",
    "peak_pflops": "peak_pflops",
}
#: What a platform preset also sets where the sweep reads it (the throughput family's
#: hardware; left out otherwise, so that files written before keep their identity).
HARDWARE_INPUTS = {
    "hbm_tb_s": "hbm_tb_s",
    "hbm_gb": "hbm_gb",
}
#: The inputs an LLM preset sets.
MODEL_INPUTS = ("params_shared_b", "params_experts_b", "experts", "experts_per_token",
                "bytes_per_weight", "kv_bytes_per_token", "attn_flops_per_context_token")
#: The inputs a calibration preset sets.
CALIBRATION_INPUTS = ("mbu", "mfu", "mfu_prefill", "step_overhead_ms")


class PresetError(ValueError):
    """An unknown preset or format; ``path`` and ``expected`` as in a sweep file problem."""

    def __init__(self, field: str, value: object, expected: str):
        self.field, self.value, self.expected = field, value, expected
        super().__init__(f"{field}: {expected} (got {value!r})")


@dataclass(frozen=True)
class Sourced:
    """A number with where it came from and when; ``basis`` says what kind of figure it is
    (for prices: on-demand, contract, ...) and ``conflict`` what other sources say."""

    value: float | None
    source: str
    date: str
    note: str = ""
    basis: str = ""
    conflict: str = ""


@dataclass(frozen=True)
class Preset:
    """One platform, per GPU."""

    label: str
    description: str
    gpu_hour_usd: Sourced
    kw_per_gpu: Sourced
    tdp_kw: Sourced
    hbm_tb_s: Sourced
    hbm_gb: Sourced
    peak_pflops: dict[str, Sourced]

    def inputs(self, precision: str) -> dict[str, float | None]:
        """The model inputs this preset always sets, with peak FLOPS at ``precision``."""
        return {
            "gpu_hour_usd": self.gpu_hour_usd.value,
            "kw_per_gpu": self.kw_per_gpu.value,
            "peak_pflops": self.peak_pflops[precision].value,
        }

    def hardware(self) -> dict[str, float | None]:
        """The throughput family's hardware inputs this preset sets where a sweep reads
        them."""
        return {"hbm_tb_s": self.hbm_tb_s.value, "hbm_gb": self.hbm_gb.value}

    def conflicts(self) -> dict[str, str]:
        """The fields whose sources disagree, with what they say."""
        fields = {"gpu_hour_usd": self.gpu_hour_usd, "kw_per_gpu": self.kw_per_gpu,
                  "tdp_kw": self.tdp_kw, "hbm_tb_s": self.hbm_tb_s, "hbm_gb": self.hbm_gb,
                  **{f"peak_pflops.{k}": v for k, v in self.peak_pflops.items()}}
        return {k: v.conflict for k, v in fields.items() if v.conflict}


@dataclass(frozen=True)
class LLM:
    """One LLM: its architecture and the throughput family's model inputs counted from it."""

    label: str
    description: str
    source: str
    date: str
    weights: str
    stated_total_b: float
    stated_active_b: float
    architecture: dict[str, Any]
    params_shared_b: float
    params_experts_b: float
    experts: int
    experts_per_token: int
    kv_elements_per_token: float
    kv_window_elements_per_sequence: float
    attn_flops_per_context_token: float

    def inputs(self, weights: str, kv: str) -> dict[str, float]:
        """The model inputs at a weight format and a KV dtype."""
        formats = load_formats()
        return {
            "params_shared_b": self.params_shared_b,
            "params_experts_b": self.params_experts_b,
            "experts": float(self.experts),
            "experts_per_token": float(self.experts_per_token),
            "bytes_per_weight": formats["weights"][weights],
            "kv_bytes_per_token": self.kv_elements_per_token * formats["kv"][kv],
            "attn_flops_per_context_token": self.attn_flops_per_context_token,
        }


@dataclass(frozen=True)
class Factor:
    """One calibration factor: the value a ``calibrations:`` axis sets and the measured
    spread ``[low, high]`` a distribution draws from."""

    value: float
    low: float
    high: float
    note: str = ""


@dataclass(frozen=True)
class Calibration:
    """One calibration regime."""

    label: str
    description: str
    source: str
    date: str
    factors: dict[str, Factor]

    def inputs(self) -> dict[str, float]:
        """The calibration inputs this regime sets."""
        return {name: f.value for name, f in self.factors.items()}


def _read(name: str) -> dict:
    text = resources.files("sweep.data").joinpath(name).read_text(encoding="utf-8")
    return yaml.safe_load(text)


def _sourced(raw: dict[str, Any]) -> Sourced:
    value = raw.get("value")
    return Sourced(
        value=None if value is None else float(value),
        source=str(raw["source"]),
        date=str(raw["date"]),
        note=str(raw.get("note", "")),
        basis=str(raw.get("basis", "")),
        conflict=str(raw.get("conflict", "")),
    )


@functools.cache
def load_presets() -> dict[str, Preset]:
    """All platform presets from ``sweep/data/presets.yaml``, keyed by label."""
    raw = _read("presets.yaml")["presets"]
    out = {}
    for label, p in raw.items():
        out[label] = Preset(
            label=label,
            description=str(p.get("description", "")),
            gpu_hour_usd=_sourced(p["gpu_hour_usd"]),
            kw_per_gpu=_sourced(p["kw_per_gpu"]),
            tdp_kw=_sourced(p["tdp_kw"]),
            hbm_tb_s=_sourced(p["hbm_tb_s"]),
            hbm_gb=_sourced(p["hbm_gb"]),
            peak_pflops={k: _sourced(p["peak_pflops"][k]) for k in PRECISIONS},
        )
    return out


@functools.cache
def load_formats() -> dict[str, dict[str, float]]:
    """Bytes per weight by ``weights`` format and per KV element by ``kv`` dtype."""
    raw = _read("models.yaml")
    return {"weights": {k: float(v) for k, v in raw["bytes_per_weight"].items()},
            "kv": {k: float(v) for k, v in raw["bytes_per_kv_element"].items()}}


@functools.cache
def load_models() -> dict[str, LLM]:
    """All LLM presets from ``sweep/data/models.yaml``, keyed by label."""
    out = {}
    for label, m in _read("models.yaml")["models"].items():
        out[label] = LLM(
            label=label, description=str(m["description"]), source=str(m["source"]),
            date=str(m["date"]), weights=str(m["weights"]),
            stated_total_b=float(m["stated_total_b"]),
            stated_active_b=float(m["stated_active_b"]),
            architecture=dict(m["architecture"]),
            params_shared_b=float(m["params_shared_b"]),
            params_experts_b=float(m["params_experts_b"]),
            experts=int(m["experts"]), experts_per_token=int(m["experts_per_token"]),
            kv_elements_per_token=float(m["kv_elements_per_token"]),
            kv_window_elements_per_sequence=float(m["kv_window_elements_per_sequence"]),
            attn_flops_per_context_token=float(m["attn_flops_per_context_token"]))
    return out


def calibration_from_entry(label: str, c: dict) -> Calibration:
    """A calibration from its entry (the fields of one regime of ``calibrations.yaml``)."""
    factors = {name: Factor(float(c[name]["value"]), float(c[name]["low"]),
                            float(c[name]["high"]), str(c[name].get("note", "")))
               for name in CALIBRATION_INPUTS}
    return Calibration(label=label, description=str(c["description"]),
                       source=str(c["source"]), date=str(c["date"]), factors=factors)


@functools.cache
def _shipped_calibrations() -> dict[str, Calibration]:
    return {label: calibration_from_entry(label, c)
            for label, c in _read("calibrations.yaml")["calibrations"].items()}


#: Where ``sweep calibrate`` writes fitted calibrations, inside a folder of frontiers.
USER_CALIBRATIONS = "calibrations"
#: Fitted calibrations given with a sweep file (a store's copy: label -> the entry as in
#: the file), read instead of a folder's.
GIVEN_CALIBRATIONS: contextvars.ContextVar[dict | None] = contextvars.ContextVar(
    "sweep_calibrations", default=None)


def _user_entries(folder: Path | None) -> dict[str, dict | str]:
    """Per fitted calibration in ``folder/calibrations/``, its entry, or why it cannot be
    read (text)."""
    given = GIVEN_CALIBRATIONS.get()
    if given is not None:
        return dict(given)
    if folder is None or not (Path(folder) / USER_CALIBRATIONS).is_dir():
        return {}
    out: dict[str, dict | str] = {}
    for path in sorted((Path(folder) / USER_CALIBRATIONS).glob("*.yaml")):
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
            entry = raw["calibration"]
            calibration_from_entry(path.stem, entry)
            out[path.stem] = entry
        except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
            out[path.stem] = (f"{USER_CALIBRATIONS}/{path.name} is not a calibration written "
                              f"by `sweep calibrate` ({type(exc).__name__}: {exc})")
    return out


def user_calibrations(folder: Path | None) -> dict[str, Calibration]:
    """The calibrations fitted by ``sweep calibrate`` into ``folder/calibrations/``
    (``<label>.yaml``, the same fields as an entry of ``calibrations.yaml``); empty when
    there is no such folder. A file that cannot be read is left out (see
    :func:`damaged_calibrations`)."""
    return {label: calibration_from_entry(label, e) for label, e in _user_entries(folder).items()
            if isinstance(e, dict)}


def damaged_calibrations(folder: Path | None) -> dict[str, str]:
    """Per fitted calibration file of ``folder`` that cannot be read, why."""
    return {label: e for label, e in _user_entries(folder).items() if isinstance(e, str)}


def user_calibration_entries(folder: Path | None, labels) -> dict[str, dict]:
    """The entries of the fitted calibrations among ``labels`` (what a store keeps)."""
    shipped = _shipped_calibrations()
    entries = _user_entries(folder)
    return {label: entries[label] for label in labels
            if label not in shipped and isinstance(entries.get(label), dict)}


def load_calibrations(folder: Path | None = None) -> dict[str, Calibration]:
    """All calibration presets, keyed by label: the shipped ones
    (``sweep/data/calibrations.yaml``), then those fitted into ``folder`` (see
    :func:`user_calibrations`)."""
    out = dict(_shipped_calibrations())
    for label, c in user_calibrations(folder).items():
        out.setdefault(label, c)
    return out


def model_binds(labels: list[str], weights: str | None, kv: str | None
                ) -> dict[str, list[float]]:
    """Per input, its value for each LLM of a ``models:`` axis (``weights``: each model's
    own format when not given; ``kv``: ``bf16`` when not given)."""
    table = load_models()
    rows = [table[label].inputs(weights or table[label].weights, kv or "bf16")
            for label in labels]
    return {name: [r[name] for r in rows] for name in MODEL_INPUTS}


def calibration_binds(labels: list[str], folder: Path | None = None,
                      table: dict[str, Calibration] | None = None) -> dict[str, list[float]]:
    """Per input, its value for each regime of a ``calibrations:`` axis (``folder``: where
    fitted calibrations are, see :func:`load_calibrations`; or ``table``, the regimes)."""
    table = table if table is not None else load_calibrations(folder)
    return {name: [table[label].factors[name].value for label in labels]
            for name in CALIBRATION_INPUTS}


def calibration_distribution(input_name: str, label: str, folder: Path | None = None
                             ) -> dict[str, dict[str, float]]:
    """The distribution ``{calibration: label}`` of ``input_name`` stands for: triangular on
    the regime's measured ``[low, high]`` with its mode at the regime's value. Raises
    :class:`PresetError` for an unknown regime, a factor it does not calibrate, or a
    regime without a spread."""
    table = load_calibrations(folder)
    if input_name not in CALIBRATION_INPUTS:
        raise PresetError(f"distributions.{input_name}.calibration", label,
                          "a calibration only for " + ", ".join(CALIBRATION_INPUTS))
    if label not in table:
        raise PresetError(f"distributions.{input_name}.calibration", label,
                          "a calibration preset, one of " + ", ".join(table))
    f = table[label].factors[input_name]
    if not f.low < f.high:
        raise PresetError(f"distributions.{input_name}.calibration", label,
                          f"a regime with a spread of {input_name} (this one fixes it at "
                          f"{f.value:g}; set it as a constant instead)")
    return {"triangular": {"low": f.low, "mode": f.value, "high": f.high}}
