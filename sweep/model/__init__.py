"""The model registry: families declared once (inputs as data, formulas as scalar
functions), and the model a sweep evaluates, built from them and from the sweep file's own
``inputs:`` and ``derived:`` sections.

``INPUT_SPECS`` and ``OUTPUT_SPECS`` are the registered families' inputs and outputs (what a
sweep file without ``inputs:``/``derived:`` sees); :func:`model_for` gives a sweep's own.
"""

from __future__ import annotations

from sweep.model import cost  # noqa: F401 - the cost family (registered by registry)
from sweep.model.family import Family, Formula, Input, Output
from sweep.model.graph import ORIGINAL, Model, ModelError

__all__ = ["FAMILIES", "INPUT_SPECS", "OUTPUT_SPECS", "CRF_FORMULA", "DEFAULT_OUTPUTS",
           "Family", "Formula", "Input", "Output", "Model", "ModelError", "ORIGINAL",
           "register", "unregister",
           "default_model", "model_for"]

from sweep.model.registry import (  # noqa: E402 - the registry after the classes
    FAMILIES,
    INPUT_SPECS,
    OUTPUT_SPECS,
    _refresh,  # noqa: F401 - for tests that change a family in place
    default_model,
    register,
    unregister,
)

CRF_FORMULA = cost.FAMILY.notes[0]
#: What a sweep file without ``outputs:`` computes.
DEFAULT_OUTPUTS = ("usd_per_mtok",)


def model_for(spec) -> Model:
    """The model of a validated sweep file: the registered families, the file's ``inputs``
    and ``derived`` sections, and every formula node the file binds made a leaf (see
    :mod:`sweep.model.user`)."""
    from sweep.model.user import bound_names, internal_formulas, internal_inputs, user_model

    return user_model(getattr(spec, "inputs", None) or {}, getattr(spec, "derived", None) or {},
                      bound_names(spec), internal_formulas(spec), internal_inputs(spec))
