"""``initlab list``: every registered initializer with its aliases; the gains table."""

import json

from click.testing import CliRunner

from initlab.cli import main
from initlab.cli.list_ import command
from initlab.init import available


def test_list_json_covers_registry():
    result = CliRunner().invoke(command, ["--json"])
    assert result.exit_code == 0
    rows = json.loads(result.output)
    assert [r["name"] for r in rows] == available()
    he = next(r for r in rows if r["name"] == "kaiming_normal")
    assert he["aliases"] == ["he_normal"] and he["torch"] == "torch.nn.init.kaiming_normal_"
    assert all(r["description"] for r in rows)


def test_list_table_and_filter():
    result = CliRunner().invoke(command, ["glorot_uniform", "trunc_normal"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "xavier_uniform" in result.output and "bounds [a, b]" in result.output
    assert "zeros" not in result.output


def test_list_gains():
    result = CliRunner().invoke(command, ["--gains", "--json"])
    rows = {r["name"]: r for r in json.loads(result.output)}
    assert rows["tanh"]["gain"] == 5 / 3 and abs(rows["tanh"]["exact"] - 1.5925) < 1e-4
    assert rows["gelu"]["convention"] == "exact"


def test_unknown_name_is_one_line_error(capsys):
    try:
        main(["list", "he_norml"])
    except SystemExit as exc:
        assert exc.code == 2
    err = capsys.readouterr().err
    assert err.startswith("Error: Unknown initializer 'he_norml'. Did you mean 'he_normal'?")
    assert err.count("\n") == 1


def test_list_policies_table_and_json():
    from initlab.policy import policies

    runner = CliRunner()
    res = runner.invoke(command, ["policies"])
    assert res.exit_code == 0, res.output
    assert "initlab policies" in res.output and "fixup" in res.output
    res = runner.invoke(command, ["--policies", "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)
    assert [r["name"] for r in rows] == policies()
    auto = next(r for r in rows if r["name"] == "auto")
    assert auto["rules"][0]["init"] == "@auto_weight" and auto["on_unmatched"] == "error"
