"""report.html in headless Chromium: loads with no console error, every image decodes.

A copy of the page gets a small probe script (appended before ``</body>``) that records,
after ``load``, each image's ``decode()`` outcome and natural size into the DOM, which
``--dump-dom`` prints. Console messages go to stderr (``--enable-logging=stderr``); any
error-level message, uncaught exception or failed resource load fails the test. Host
resolution is disabled, so a page that needed the network would fail too.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from initlab.lab.report import write_reports
from initlab.lab.sweep import Sweep, run_sweep
from initlab.lab.train import TrainConfig

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")

PROBE = """<script>
window.__errors = [];
window.addEventListener('error', e => window.__errors.push(String(e.message || e.type)), true);
window.addEventListener('load', async () => {
  const imgs = Array.from(document.images);
  const res = await Promise.all(imgs.map(i => i.decode().then(
      () => ({ok: i.naturalWidth > 0 && i.naturalHeight > 0, w: i.naturalWidth}),
      e => ({ok: false, error: String(e)}))));
  const out = document.createElement('pre');
  out.id = 'probe-result';
  out.textContent = JSON.stringify({images: res, errors: window.__errors});
  document.body.appendChild(out);
});
</script>"""


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("browser")
    run_sweep(Sweep(inits=["xavier_normal", "normal(std=100)"], model="mlp",
                    model_kwargs={"widths": [16]}, dataset="synthetic", seeds=2,
                    n_train=256, n_test=64,
                    train=TrainConfig(epochs=2, lr=5.0, grad_norm_steps=3)), out)
    return write_reports(out)["html"]


def _chromium(page, profile):
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
           "--host-resolver-rules=MAP * ~NOTFOUND", "--virtual-time-budget=10000",
           "--dump-dom", page.as_uri()]
    # --dump-dom can fire before the async probe has written its result when the machine is
    # loaded (virtual time runs ahead of off-thread image decoding): try again, up to 3 times.
    for _ in range(3):
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if 'id="probe-result"' in res.stdout or res.returncode != 0:
            break
    return res


def test_report_loads_cleanly_and_every_image_decodes(report, tmp_path):
    page = tmp_path / "probed.html"
    page.write_text(report.read_text().replace("</body>", PROBE + "</body>"))
    res = _chromium(page, tmp_path / "profile")
    assert res.returncode == 0, res.stderr[-2000:]
    m = re.search(r'<pre id="probe-result">(.*?)</pre>', res.stdout, re.S)
    assert m, "probe did not run: " + res.stdout[-500:] + res.stderr[-1500:]
    probe = json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert probe["errors"] == []
    assert len(probe["images"]) >= 5 and all(i["ok"] for i in probe["images"]), probe
    console = [line for line in res.stderr.splitlines() if "CONSOLE" in line
               or "Uncaught" in line or "Failed to load resource" in line]
    assert console == [], console


def test_probe_catches_a_broken_image(tmp_path):
    """The check can fail: a corrupt data URI is reported as not decoded."""
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><html><head><link rel=icon href='data:,'></head><body>"
                    "<img src='data:image/png;base64,iVBORw0KGgoAAAAN'>" + PROBE
                    + "</body></html>")
    res = _chromium(page, tmp_path / "profile")
    m = re.search(r'<pre id="probe-result">(.*?)</pre>', res.stdout, re.S)
    assert m, res.stderr[-1500:]
    probe = json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert [i["ok"] for i in probe["images"]] == [False]
