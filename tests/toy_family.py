"""A toy model family for the registry tests: two inputs, one intermediate, two outputs."""

from __future__ import annotations

import math

import numpy as np

from sweep.model.family import Family, Input

NAN = math.nan

FAMILY = Family(
    name="toy", module=__name__, description="a toy family for tests",
    inputs=(Input("toy_a", "m", "first side", 1.0, 0.0, 100.0),
            Input("toy_b", "m", "second side", None, -100.0, 100.0)))


@FAMILY.intermediate("m", "sum of the sides")
def toy_sum(toy_a, toy_b):
    return toy_a + toy_b


@FAMILY.output("m2", "sum times the second side", "(toy_a + toy_b) * toy_b")
def toy_area(toy_sum, toy_b):
    return toy_sum * toy_b


@FAMILY.output("1", "first side over the sum", "toy_a / (toy_a + toy_b)")
def toy_share(toy_a, toy_sum):
    if not toy_sum > 0.0:
        return NAN
    return toy_a / toy_sum


def reference(x):
    def area():
        return (x["toy_a"] + x["toy_b"]) * x["toy_b"]

    def share():
        s = x["toy_a"] + x["toy_b"]
        return np.where(s > 0, x["toy_a"] / np.where(s > 0, s, 1.0), np.nan)

    return {"toy_area": area, "toy_share": share, "toy_sum": lambda: x["toy_a"] + x["toy_b"]}


FAMILY.reference = reference
