"""The README is assembled from docs/readme/ and its quickstart code runs as written."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_readme_is_assembled_from_its_parts():
    res = subprocess.run([sys.executable, str(ROOT / "docs" / "build_readme.py"), "--check"],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_quickstart_python_block_runs(capsys):
    text = (ROOT / "docs" / "readme" / "10-quickstart.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "the quickstart has no python block"
    namespace: dict = {"__name__": "__quickstart__"}
    exec(compile(blocks[0], "README quickstart", "exec"), namespace)  # noqa: S102
    out = capsys.readouterr().out
    assert "['saturation']" in out and "converged" in out
    assert namespace["big"][0].weight.device.type == "cpu"
