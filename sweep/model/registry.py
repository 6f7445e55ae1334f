"""The registered families and the model they make together (what a sweep file without
``inputs:`` or ``derived:`` evaluates)."""

from __future__ import annotations

from sweep.model import cost, throughput
from sweep.model.family import Family, Input, Output
from sweep.model.graph import Model

#: Registered families, by name, in registration order.
FAMILIES: dict[str, Family] = {cost.FAMILY.name: cost.FAMILY,
                               throughput.FAMILY.name: throughput.FAMILY}

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

