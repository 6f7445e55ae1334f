"""docs/model.md's tables, generated from the registry so that they cannot drift:
``python -m sweep.model.doc docs/model.md`` rewrites the blocks between
``<!-- generated: NAME -->`` and ``<!-- end generated -->``; a test checks the file is
current."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from sweep.model import FAMILIES, default_model

_BLOCK = re.compile(r"(<!-- generated: (\w+) -->\n)(.*?)(<!-- end generated -->)", re.S)


def _num(x: float) -> str:
    return f"{x:g}"


def inputs_table() -> str:
    """Every input of the registered families: unit, meaning, default, valid range."""
    model = default_model()
    rows = ["| input | unit | family | meaning | default | valid range |",
            "|---|---|---|---|---|---|"]
    for fam in FAMILIES.values():
        for i in fam.inputs:
            if i.name not in model.leaves:
                continue
            default = "none: must be set where needed" if i.default is None else _num(i.default)
            lo = "[" if i.low_inclusive else "("
            hi = "]" if i.high_inclusive else ")"
            rng = f"{lo}{_num(i.low)}, {_num(i.high)}{hi}" + (" integer" if i.integer else "")
            rows.append(f"| `{i.name}` | {i.unit} | {fam.name} | {i.description} | {default} "
                        f"| {rng} |")
    return "\n".join(rows) + "\n"


def outputs_table() -> str:
    """Every output: unit, formula, and the inputs it reads (derived from the graph)."""
    model = default_model()
    rows = ["| output | unit | formula | reads |", "|---|---|---|---|"]
    for name, o in model.output_specs.items():
        reads = ", ".join(f"`{n}`" for n in o.needs)
        rows.append(f"| `{name}` | {o.unit} | `{o.formula}` | {reads} |")
    return "\n".join(rows) + "\n"


def intermediates_table() -> str:
    """The nodes computed once and shared, never stored."""
    model = default_model()
    rows = ["| intermediate | unit | meaning | reads |", "|---|---|---|---|"]
    for name, f in model.formulas.items():
        if not f.output:
            reads = ", ".join(f"`{p}`" for p in f.params)
            rows.append(f"| `{name}` | {f.unit} | {f.long_name} | {reads} |")
    return "\n".join(rows) + "\n"


BLOCKS = {"inputs": inputs_table, "outputs": outputs_table,
          "intermediates": intermediates_table}


def render(text: str) -> str:
    """``text`` with every generated block rewritten."""
    return _BLOCK.sub(lambda m: m.group(1) + BLOCKS[m.group(2)]() + m.group(4), text)


def main(argv: list[str] | None = None) -> int:
    """Rewrite the generated blocks of the file named in ``argv`` (default docs/model.md)."""
    path = Path((argv or sys.argv[1:] or ["docs/model.md"])[0])
    path.write_text(render(path.read_text()))
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
