"""The report in a real headless browser (Debian's `chromium`): every figure loads and nothing overflows.

Skipped where no browser is installed, unless DLTHEORY_REQUIRE_BROWSER=1 (CI), where a missing
browser is a failure.
"""

import json
import os
import re
import shutil
import subprocess
import tempfile

import pytest

from dltheory.report import write_report
from dltheory.runner import run_experiment
from dltheory.store import Store
from test_report_output import _png

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

CHECK = """<script>
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var broken = imgs.filter(function (i) { return !(i.complete && i.naturalWidth > 0); }).map(function (i) { return i.alt; });
  var wide = Array.prototype.slice.call(document.querySelectorAll('body *')).filter(function (el) {
    return el.getBoundingClientRect().right > window.innerWidth + 1; }).map(function (el) { return el.tagName + '.' + el.className; });
  var out = {images: imgs.length, broken: broken, scrollWidth: document.documentElement.scrollWidth,
             innerWidth: window.innerWidth, overflowing: wide.slice(0, 5),
             imgWidths: imgs.map(function (i) { return Math.round(i.getBoundingClientRect().width); })};
  var pre = document.createElement('pre'); pre.id = 'dltheory-check'; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def _browser() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get("DLTHEORY_REQUIRE_BROWSER") == "1":
        pytest.fail(f"DLTHEORY_REQUIRE_BROWSER=1 but none of {', '.join(BROWSERS)} is on PATH (apt-get install chromium)")
    pytest.skip("no headless browser (chromium) installed")


def _render(browser: str, page: str, width: int) -> dict:
    profile = tempfile.mkdtemp(prefix="dltheory-chromium-")
    try:
        p = subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}", f"--window-size={width},900",
             "--virtual-time-budget=10000", "--dump-dom", "file://" + page],
            capture_output=True, text=True, timeout=180)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    m = re.search(r'<pre id="dltheory-check">(.*?)</pre>', p.stdout, re.S)
    assert m, f"the check did not run (exit {p.returncode}): {p.stderr[-1500:]}"
    return json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">"))


def test_report_renders_every_figure_without_overflow(runs_dir, tmp_path):
    browser = _browser()
    r = run_experiment("testing/quadratic", seed=1, runs_dir=runs_dir)
    (r.run_dir / "figures" / "panels.png").write_bytes(_png(1500, 450))  # a multi-panel figure, wider than any screen
    res = json.loads((r.run_dir / "result.json").read_text())
    res["figures"].append("figures/panels.png")
    (r.run_dir / "result.json").write_text(json.dumps(res))
    run_experiment("testing/seed-dependent", seed=1, runs_dir=runs_dir)
    html = write_report(Store(runs_dir), tmp_path / "report.html").read_text()
    page = tmp_path / "checked.html"
    page.write_text(html.replace("</body>", CHECK + "</body>"))
    for width in (1280, 700):
        got = _render(browser, str(page), width)
        assert got["images"] == 2 and got["broken"] == [], got
        assert got["scrollWidth"] <= got["innerWidth"], got
        assert got["overflowing"] == [], got
        assert max(got["imgWidths"]) <= got["innerWidth"], got
        if width == 1280:  # the multi-panel figure spans the card
            assert got["imgWidths"][1] > 0.8 * min(1180, width) - 80, got
