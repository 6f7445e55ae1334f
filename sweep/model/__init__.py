"""The model registry: families declared once (inputs as data, formulas as scalar
functions), and the model a sweep evaluates, built from them and from the sweep file's own
``inputs:`` and ``derived:`` sections.

``INPUT_SPECS`` and ``OUTPUT_SPECS`` are the registered families' inputs and outputs (what a
sweep file without ``inputs:``/``derived:`` sees); :func:`model_for` gives a sweep's own.
"""

from __future__ import annotations

from sweep.model import cost
from sweep.model.family import Family, Formula, Input, Output
from sweep.model.graph import ORIGINAL, Model, ModelError

__all__ = ["FAMILIES", "INPUT_SPECS", "OUTPUT_SPECS", "CRF_FORMULA", "DEFAULT_OUTPUTS", "Family", "Formula",
           "Input", "Output", "Model", "ModelError", "ORIGINAL", "register", "unregister",
           "default_model", "model_for"]

#: Registered families, by name, in registration order.
FAMILIES: dict[str, Family] = {cost.FAMILY.name: cost.FAMILY}

_DEFAULT: list[Model] = []


def default_model() -> Model:
    """The model of the registered families, with nothing of a sweep file's own."""
    if not _DEFAULT:
        _DEFAULT.append(Model(FAMILIES.values()))
    return _DEFAULT[0]


def _refresh() -> None:
    _DEFAULT.clear()
    model = default_model()
    INPUT_SPECS.clear()
    INPUT_SPECS.update(model.input_specs)
    OUTPUT_SPECS.clear()
    OUTPUT_SPECS.update(model.output_specs)


def register(family: Family) -> None:
    """Add a family to the registry (its inputs and outputs join every new sweep's model)."""
    if family.name in FAMILIES:
        raise ValueError(f"a family named {family.name!r} is already registered")
    FAMILIES[family.name] = family
    _refresh()


def unregister(name: str) -> None:
    """Remove a registered family (tests register toy families and remove them after)."""
    FAMILIES.pop(name)
    _refresh()


INPUT_SPECS: dict[str, Input] = {}
OUTPUT_SPECS: dict[str, Output] = {}
_refresh()

CRF_FORMULA = cost.FAMILY.notes[0]
#: What a sweep file without ``outputs:`` computes.
DEFAULT_OUTPUTS = ("usd_per_mtok",)


def model_for(spec) -> Model:
    """The model of a validated sweep file: the registered families, the file's ``inputs``
    and ``derived`` sections (see :mod:`sweep.model.user`)."""
    from sweep.model.user import user_model

    return user_model(getattr(spec, "inputs", None) or {}, getattr(spec, "derived", None) or {})
