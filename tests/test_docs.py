"""The documentation names every input and output, and the README opens with the quick start."""

from __future__ import annotations

from pathlib import Path

import pytest

from sweep.model import INPUT_SPECS, OUTPUT_SPECS, default_model

INPUTS, OUTPUTS = default_model().leaves, default_model().outputs

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("name", "unit"),
    [(n, INPUT_SPECS[n].unit) for n in INPUTS] + [(n, OUTPUT_SPECS[n].unit) for n in OUTPUTS],
)
def test_model_doc_lists_every_input_and_output_with_its_unit(name, unit):
    text = (REPO / "docs" / "model.md").read_text()
    row = next((line for line in text.splitlines() if line.startswith(f"| `{name}` |")), None)
    assert row is not None, name
    assert f"| {unit} |" in row


def test_readme_opens_with_the_two_quick_start_commands():
    text = (REPO / "README.md").read_text()
    first_block = text.split("```sh", 1)[1].split("```", 1)[0]
    assert "make run" in first_block and "make test" in first_block
    assert text.index("## Quick start") < text.index("## The command line")
    ci = (REPO / ".ci" / "run").read_text()
    assert "make test" in ci


def test_model_doc_tables_are_generated_from_the_registry():
    from sweep.model import doc

    text = (REPO / "docs" / "model.md").read_text()
    assert "<!-- generated: inputs -->" in text and "<!-- generated: outputs -->" in text
    assert doc.render(text) == text, "run: python -m sweep.model.doc docs/model.md"
