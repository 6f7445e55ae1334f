"""Platform presets (price, all-in power, TDP, HBM, peak FLOPS), read from one data file."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

PRECISIONS = ("fp4", "fp8", "bf16")

#: The inputs a preset sets, and the preset field each comes from.
PRESET_INPUTS = {
    "gpu_hour_usd": "gpu_hour_usd",
    "kw_per_gpu": "kw_per_gpu",
    "peak_pflops": "peak_pflops",
}


@dataclass(frozen=True)
class Sourced:
    """A number with where it came from and when."""

    value: float | None
    source: str
    date: str
    note: str = ""


@dataclass(frozen=True)
class Preset:
    """One platform, per GPU."""

    label: str
    description: str
    gpu_hour_usd: Sourced
    kw_per_gpu: Sourced
    tdp_kw: Sourced
    hbm_tb_s: Sourced
    peak_pflops: dict[str, Sourced]

    def inputs(self, precision: str) -> dict[str, float | None]:
        """The model inputs this preset sets, with peak FLOPS at ``precision``."""
        return {
            "gpu_hour_usd": self.gpu_hour_usd.value,
            "kw_per_gpu": self.kw_per_gpu.value,
            "peak_pflops": self.peak_pflops[precision].value,
        }


def _sourced(raw: dict[str, Any]) -> Sourced:
    value = raw.get("value")
    return Sourced(
        value=None if value is None else float(value),
        source=str(raw["source"]),
        date=str(raw["date"]),
        note=str(raw.get("note", "")),
    )


@functools.cache
def load_presets() -> dict[str, Preset]:
    """All presets from ``sweep/data/presets.yaml``, keyed by label."""
    text = resources.files("sweep.data").joinpath("presets.yaml").read_text(encoding="utf-8")
    raw = yaml.safe_load(text)["presets"]
    out = {}
    for label, p in raw.items():
        out[label] = Preset(
            label=label,
            description=str(p.get("description", "")),
            gpu_hour_usd=_sourced(p["gpu_hour_usd"]),
            kw_per_gpu=_sourced(p["kw_per_gpu"]),
            tdp_kw=_sourced(p["tdp_kw"]),
            hbm_tb_s=_sourced(p["hbm_tb_s"]),
            peak_pflops={k: _sourced(p["peak_pflops"][k]) for k in PRECISIONS},
        )
    return out
