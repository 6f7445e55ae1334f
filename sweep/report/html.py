"""``sweep report STORE [STORE ...] --out FILE.html``: one self-contained HTML file.

Per store: the question (a reduce result's ``question``, the file's notes), the summary
that ``sweep show`` prints, every default chart (a base64 PNG with alt text and a
one-sentence reading, and its numbers as an embedded CSV to download) and the provenance
(config hash, versions, backend, device, times). No script, no external request: styles,
images and data are all inline, and print styles keep each figure whole on a page.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

import xarray as xr

from sweep._version import __version__

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2rem auto;
       max-width: 72rem; padding: 0 1rem; color: #1a1a1a; line-height: 1.45; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.3rem; border-bottom: 1px solid #ccc; }
pre { background: #f6f6f6; padding: 0.8rem; overflow-x: auto; font-size: 0.78rem; }
figure { margin: 1.5rem 0; page-break-inside: avoid; break-inside: avoid; }
figure img { max-width: 100%; height: auto; border: 1px solid #ddd; }
figcaption { font-size: 0.9rem; color: #333; }
table { border-collapse: collapse; font-size: 0.85rem; }
td, th { border: 1px solid #ccc; padding: 0.2rem 0.5rem; text-align: left; vertical-align: top; }
.question { font-size: 1.05rem; font-style: italic; }
@media print { body { margin: 0; max-width: none; } a[download] { display: none; }
               pre { white-space: pre-wrap; } }
"""


def _summary(ds: xr.Dataset) -> str:
    mode = ds.attrs.get("sweep_mode")
    if mode == "sensitivity":
        from sweep.report.sensitivity_report import describe
    elif mode == "morris":
        from sweep.engine.screening import describe
    elif mode == "reduce":
        from sweep.report.summary import describe_reduce as describe
    else:
        from sweep.report.summary import describe
    return describe(ds)


def _png(chart) -> str:
    buf = io.BytesIO()
    chart.figure.savefig(buf, format="png", metadata={"Software": "token-sweep"})
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _provenance(ds: xr.Dataset) -> list[tuple[str, str]]:
    a = ds.attrs
    versions = a.get("sweep_versions", {})
    if isinstance(versions, str):
        versions = json.loads(versions)
    rows = [("config hash", str(a.get("sweep_config_hash", ""))),
            ("mode", str(a.get("sweep_mode", ""))),
            ("engine", f"token-sweep {a.get('sweep_version', '?')}"),
            ("versions", ", ".join(f"{k} {v}" for k, v in versions.items())),
            ("backend", f"{a.get('sweep_backend', '?')} on {a.get('sweep_device', '?')}"),
            ("created", str(a.get("sweep_created", ""))),
            ("finished", str(a.get("sweep_finished", "")))]
    if "sweep_elapsed_s" in a:
        rows.append(("time", f"{a['sweep_elapsed_s']} s computing"))
    return rows


def section(store: Path, ds: xr.Dataset, charts: list) -> str:
    """The HTML of one store: question, summary, charts, provenance."""
    from sweep.plots.defaults import csv_text

    e = html.escape
    spec = json.loads(ds.attrs.get("sweep_spec", "{}"))
    parts = [f"<section><h2>{e(str(ds.attrs.get('sweep_name', store.name)))}</h2>"]
    question = ds.attrs.get("sweep_question") or (spec.get("reduce") or {}).get("question")
    if question:
        parts.append(f'<p class="question">{e(question)}</p>')
    for note in spec.get("notes", []):
        parts.append(f"<p>{e(note)}</p>")
    parts.append("<h3>Summary</h3><pre>" + e(_summary(ds)) + "</pre>")
    for chart in charts:
        data = base64.b64encode(csv_text(chart.data).encode("utf-8")).decode("ascii")
        parts.append(
            f'<figure><img src="data:image/png;base64,{_png(chart)}" alt="{e(chart.alt)}">'
            f"<figcaption><strong>{e(chart.title)}.</strong> {e(chart.reading)}. "
            f'<a download="{e(chart.name)}.csv" href="data:text/csv;base64,{data}">'
            "the numbers (CSV)</a></figcaption></figure>")
    rows = "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in _provenance(ds))
    parts.append(f"<h3>Provenance</h3><table>{rows}</table></section>")
    return "\n".join(parts)


def render(stores: list[tuple[Path, xr.Dataset, list]]) -> str:
    """The whole page for ``(path, dataset, charts)`` of each store."""
    names = ", ".join(html.escape(str(ds.attrs.get("sweep_name", p.name))) for p, ds, _ in stores)
    body = "\n".join(section(p, ds, charts) for p, ds, charts in stores)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>token-sweep report: {names}</title><style>{STYLE}</style></head>"
            f"<body><h1>token-sweep report: {names}</h1>"
            f"<p>Made by token-sweep {html.escape(__version__)} from {len(stores)} "
            "stored result(s). Each chart's numbers are linked below it as CSV.</p>"
            f"{body}</body></html>\n")
