"""The HTML report opened in a real headless browser (issue 15): Debian's chromium
(installed by tools/install-browser.sh, which `make test` runs), driven by Playwright with
``executable_path`` pointing at it. No console error, every image decoded, no request but
the file itself, and a screenshot that is not blank."""

from __future__ import annotations

import io
import os
import shutil

import pytest

import sweep
from sweep.cli import main
from sweep.spec.config import spec_from_dict

CHROMIUM = os.environ.get("TOKEN_SWEEP_CHROMIUM") or shutil.which("chromium")


def _browser_problem() -> str | None:
    if CHROMIUM is None:
        return ("no chromium here: tools/install-browser.sh installs Debian's package where "
                "it runs as root with apt-get (`make test` runs it)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install -e '.[test]')"
    return None


pytestmark = pytest.mark.skipif(_browser_problem() is not None,
                                reason=_browser_problem() or "")


def test_the_report_opens_offline_in_a_real_browser(tmp_path, capsys):
    from matplotlib import image
    from playwright.sync_api import sync_playwright

    grid = {
        "name": "browser",
        "axes": {"platform": {"labels": ["H200", "B200"],
                              "set": {"gpu_hour_usd": [3.5, 6.0],
                                      "tokens_per_s_per_gpu": [1300, 5500]}},
                 "utilization": {"linspace": {"start": 0.2, "stop": 1.0, "num": 9}},
                 "electricity_usd_per_kwh": {"values": [0.04, 0.08, 0.12]}},
        "constants": {"price_usd_per_mtok": 1.0},
        "outputs": ["usd_per_mtok"],
        "notes": ["a note shown in the report"],
    }
    store = tmp_path / "grid.zarr"
    sweep.run(spec_from_dict(grid), store=store, progress=False)
    page_file = tmp_path / "report.html"
    assert main(["report", str(store), "--out", str(page_file)]) == 0
    url = page_file.resolve().as_uri()
    errors, requested, refused = [], [], []

    def route(r):
        requested.append(r.request.url)
        if r.request.url == url:
            r.continue_()
        else:
            refused.append(r.request.url)
            r.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM,
                                    args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.route("**/*", route)
            page.goto(url, wait_until="load")
            images = page.evaluate("() => Array.from(document.images).map(i => "
                                   "[i.complete, i.naturalWidth, i.naturalHeight, i.alt])")
            text = page.inner_text("body")
            shot = page.screenshot(full_page=True)
        finally:
            browser.close()
    assert errors == []
    assert requested == [url] and refused == []      # nothing but the file itself
    assert len(images) == 5
    for complete, width, height, alt in images:
        assert complete and width > 100 and height > 100 and alt
    assert "a note shown in the report" in text and "Provenance" in text
    pixels = image.imread(io.BytesIO(shot), format="png")
    assert pixels.shape[0] > 900 and pixels.std() > 0.05   # a long page, not blank
