"""The diagnose HTML page in headless Chromium: loads offline, the embedded plot decodes."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
from _diag_models import batch, mlp
from torch import nn

import initlab

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")

PROBE = """<script>
window.addEventListener('load', async () => {
  const res = await Promise.all(Array.from(document.images).map(i => i.decode().then(
      () => ({ok: i.naturalWidth > 0 && i.naturalHeight > 0}), e => ({ok: false}))));
  const out = document.createElement('pre');
  out.id = 'probe';
  out.textContent = JSON.stringify({images: res, rows: document.querySelectorAll('tr').length});
  document.body.appendChild(out);
});
</script>"""


def test_html_report_renders_offline(tmp_path):
    x, y = batch((32, 16), classes=4)
    r1 = initlab.diagnose(mlp(6, 32, nn.ReLU, "xavier", d_in=16, d_out=4), x, y)
    r2 = initlab.diagnose(mlp(6, 32, nn.ReLU, "kaiming", d_in=16, d_out=4), x, y)
    page = tmp_path / "cmp.html"
    html = initlab.diagnosis.compare_reports({"xavier": r1, "kaiming": r2}).to_html()
    page.write_text(html.replace("</body>", PROBE + "</body>"))
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--disable-background-networking", f"--user-data-dir={tmp_path / 'profile'}",
           "--host-resolver-rules=MAP * ~NOTFOUND", "--virtual-time-budget=10000",
           "--dump-dom", page.as_uri()]
    for _ in range(3):  # --dump-dom may fire before the async probe on a loaded machine
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if 'id="probe"' in done.stdout:
            break
    found = re.search(r'<pre id="probe">(.*?)</pre>', done.stdout, re.S)
    assert found, done.stderr[-2000:]
    probe = json.loads(found.group(1).replace("&quot;", '"'))
    assert probe["images"] == [{"ok": True}]
    assert probe["rows"] > len(r1.layers) + len(r2.layers)  # both layer tables and the summary
