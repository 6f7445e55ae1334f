"""A sweep file's axes resolved for planning: values expanded, presets, models and
calibrations as the inputs they set, and each measured frontier's interpolation table
fitted (once per file) and bound along its axis. Validation (:mod:`sweep.spec`) reads the
frontier files; fitting and binding their tables is planning's."""

from __future__ import annotations

import numpy as np

from sweep.frontiers import interp
from sweep.frontiers.interp import outside
from sweep.model.frontier import AT
from sweep.spec.config import Axis, AxisSpec, SweepSpec, numeric_values
from sweep.spec.presets import (
    HARDWARE_INPUTS,
    PRESET_INPUTS,
    calibration_binds,
    load_presets,
    model_binds,
)


def resolved_axes(spec: SweepSpec) -> list[Axis]:
    """The axes of ``spec`` with their values expanded, in file order."""
    read = (spec.read_inputs() if any(a.presets is not None for a in spec.axes.values())
            else set())
    return [_resolve(name, axis, read, spec) for name, axis in spec.axes.items()]


def frontier_tables(spec: SweepSpec, keys: list[str]) -> list:
    """The interpolation tables of frontiers ``keys`` (see :mod:`sweep.frontiers.interp`),
    each fitted once per spec."""
    return [spec.memo("frontier_table", k, lambda k=k: interp.table(spec.frontier(k)))
            for k in keys]


def frontier_report(spec: SweepSpec) -> dict | None:
    """Where the frontier axis reads its frontiers (None without one): per label its
    frontier's key, measured range, provenance and how many target interactivities
    fall outside that range, and the points of the sweep that are NaN for it."""
    axis = next(((n, a) for n, a in spec.axes.items() if a.frontier is not None), None)
    if axis is None or not spec.reads_frontiers:
        return None
    name, front = axis
    if AT in spec.axes:
        at = numeric_values(spec.axes[AT])
    else:
        at = np.asarray([spec.constants.get(AT, np.nan)], dtype=np.float64)
    others = 1
    for n, a in spec.axes.items():
        if n not in (name, AT):
            others *= len(numeric_values(a)) if not a.categorical else len(a.label_list)
    if spec.sample is not None:
        others *= spec.sample.n
    labels = {}
    total = 0
    tables = frontier_tables(spec, front.frontier)
    for label, key, tab in zip(front.label_list, front.frontier, tables, strict=True):
        f = spec.frontier(key)
        miss = int(outside(tab, at).sum())
        total += miss * others
        labels[label] = {"frontier": key, "range": [tab.low, tab.high],
                         "points": len(f.points), "outside": miss, "of": int(at.size),
                         "source": f.source}
    return {"axis": name, "points_outside": total,
            "points": others * int(at.size) * len(labels), "labels": labels}


def _categorical_binds(spec: AxisSpec, read: set[str], owner: SweepSpec | None = None
                       ) -> tuple[list[str], dict[str, list[float | None]]]:
    labels = spec.label_list
    binds: dict[str, list[float | None]] = {}
    if spec.presets is not None:
        precision = spec.precision or "fp8"
        table = load_presets()
        binds = {name: [table[label].inputs(precision)[name] for label in labels]
                 for name in PRESET_INPUTS}
        binds.update({name: [table[label].hardware()[name] for label in labels]
                      for name in HARDWARE_INPUTS if name in read})
    elif spec.models is not None:
        binds = dict(model_binds(labels, spec.weights, spec.kv))
    elif spec.calibrations is not None:
        binds = dict(calibration_binds(labels, table=owner.calibration_table()
                                       if owner else None))
    if spec.frontier is not None and owner is not None:
        binds.update(interp.binds(frontier_tables(owner, spec.frontier),
                                  owner.frontier_points))
    for name, values in (spec.set or {}).items():
        binds[name] = list(values)
    return labels, binds


def _resolve(name: str, spec: AxisSpec, read: set[str] = frozenset(),
             owner: SweepSpec | None = None) -> Axis:
    if spec.categorical:
        labels, binds = _categorical_binds(spec, read, owner)
        return Axis(
            name=name,
            coord=np.asarray(labels, dtype=object),
            binds={k: np.asarray(v, dtype=np.float64) for k, v in binds.items()},
            frontier=tuple(spec.frontier or ()),
        )
    values = numeric_values(spec)
    return Axis(name=name, coord=values, binds={name: values})
