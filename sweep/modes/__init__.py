"""The modes of a sweep, each owning its code behind one protocol (:class:`base.Mode`):
materialize (a grid), sample (a stored sample grid), reduce, sensitivity and screening.
:func:`for_spec` picks the mode of a sweep file (``SweepSpec.mode``); the CLI and
:func:`sweep.run` dispatch once, through it."""

from __future__ import annotations

from sweep.modes.base import Mode, RunOptions
from sweep.modes.materialize import Materialize
from sweep.modes.reduce import Reduce
from sweep.modes.sensitivity import Screening, Sensitivity

__all__ = ["MODES", "Mode", "RunOptions", "for_spec", "get"]

MODES: dict[str, Mode] = {
    "materialize": Materialize(),
    "sample": Materialize("sample"),
    "reduce": Reduce(),
    "sensitivity": Sensitivity(),
    "screening": Screening(),
}


def get(name: str) -> Mode:
    """The mode called ``name`` (one of :data:`MODES`)."""
    return MODES[name]


def for_spec(spec) -> Mode:
    """The mode of a validated sweep file (``spec.mode``)."""
    return MODES[spec.mode]
