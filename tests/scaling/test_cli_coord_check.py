"""``initlab coord-check``: exit 0 healthy, 1 unhealthy with the problems, 2 on user errors."""

from __future__ import annotations

import json

import pytest

from initlab.cli import main


def _run(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


def test_mup_healthy_and_sp_unhealthy(capsys, tmp_path):
    code, out, _ = _run(["coord-check", "--model", "mlp", "--widths", "32,64,128,256",
                         "--json-out", str(tmp_path / "cc.json"), "--plot", str(tmp_path / "cc.png")],
                        capsys)
    assert code == 0 and out.strip().endswith("healthy")
    assert json.loads((tmp_path / "cc.json").read_text())["healthy"] is True
    assert (tmp_path / "cc.png").exists()
    code, out, _ = _run(["coord-check", "--model", "mlp", "--parametrization", "sp"], capsys)
    assert code == 1 and "UNHEALTHY" in out and "grows with width" in out


def test_user_errors_are_one_line(capsys):
    code, _, err = _run(["coord-check", "--model", "mlpp"], capsys)
    assert code == 2 and err.strip() == ("Error: Unknown coord-check model 'mlpp'. Did you mean "
                                         "'mlp'? Available: ['mlp', 'transformer'].")
    code, _, err = _run(["coord-check", "--widths", "64,x"], capsys)
    assert code == 2 and "--widths must be comma-separated integers; got '64,x'" in err
