"""The benchmark's HTML report in a real browser (headless Chromium, Debian's `chromium` package;
scripts/test.sh installs it): the page loads with no console or resource error, shows its KPI tables
with the best values marked and its three figures (loaded, non-empty images), and renders to a PNG."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.bench.conftest import BenchRun

pytestmark = pytest.mark.slow

# put first in <head>: records console errors and warnings and failed loads, and after the page has
# loaded writes what it sees into <pre id="probe"> for --dump-dom
PROBE = """<script>
window.__problems = [];
for (const level of ["error", "warn"]) {
  const original = console[level].bind(console);
  console[level] = (...args) => { window.__problems.push(level + ": " + args.join(" ")); original(...args); };
}
window.addEventListener("error", e => {
  window.__problems.push("error: " + (e.message || (e.target && (e.target.src || e.target.href)) || "?"));
}, true);
window.addEventListener("load", () => {
  const visible = el => { const r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0; };
  const tables = [...document.querySelectorAll("table.kpis")];
  const images = [...document.querySelectorAll("img")];
  const out = {
    problems: window.__problems,
    tables: tables.length,
    visible_tables: tables.filter(visible).length,
    rows: tables.map(t => t.tBodies[0].rows.length),
    best: document.querySelectorAll("td.best").length,
    images: images.map(i => ({complete: i.complete, w: i.naturalWidth, h: i.naturalHeight,
                              shown: visible(i)})),
  };
  const pre = document.createElement("pre");
  pre.id = "probe";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail("this test needs Chromium: install Debian's `chromium` package (scripts/test.sh does "
                    "when run as root)", pytrace=False)
    return found


def _browse(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", *args, page.as_uri()],
        capture_output=True, text=True, timeout=120, check=False,
    )


def test_chromium_shows_the_tables_and_figures(tiny_bench: BenchRun, tmp_path: Path) -> None:
    report = tiny_bench.out / "report.html"
    probed, png = tmp_path / "probed.html", tmp_path / "report.png"
    probed.write_text(report.read_text().replace("<head>", "<head>" + PROBE, 1))
    result = _browse(probed, tmp_path / "profile", "--virtual-time-budget=10000", "--window-size=1400,2600",
                     f"--screenshot={png}", "--dump-dom")
    found = re.search(r'<pre id="probe">(.*?)</pre>', result.stdout, re.S)
    assert found is not None, result.stderr[-2000:]
    seen = json.loads(found.group(1).replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">"))
    assert seen["problems"] == []
    assert "CONSOLE" not in result.stderr  # the report has no script of its own: nothing may log
    assert seen["tables"] == 2 and seen["visible_tables"] == 2  # KPIs and normalised, one scenario
    assert seen["rows"] == [4, 4]  # the four controllers
    assert seen["best"] > 0
    assert len(seen["images"]) == 3
    for image in seen["images"]:
        assert image["complete"] and image["shown"] and image["w"] > 200 and image["h"] > 150, image

    assert png.is_file(), result.stderr[-2000:]
    pixels = np.asarray(Image.open(png).convert("L"), dtype=float)
    assert pixels.shape == (2600, 1400)
    assert (pixels < 128).mean() > 0.005  # text, table rules and plotted lines, not a blank page
    assert len(np.unique(pixels)) > 50


def test_the_inline_figures_are_not_empty(tiny_bench: BenchRun) -> None:
    report = (tiny_bench.out / "report.html").read_text()
    images = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", report)
    assert len(images) == 3
    for data in images:
        pixels = np.asarray(Image.open(io.BytesIO(base64.b64decode(data))).convert("L"), dtype=float)
        assert min(pixels.shape) > 150
        assert pixels.std() > 10  # drawn, not a blank canvas
