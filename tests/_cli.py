"""Running the ``initlab`` CLI in-process from a test: (exit code, stdout, stderr)."""

from initlab.cli import main


def run_cli(capsys, *argv):
    """``initlab ARGV`` through the console entry point, as a user's shell would see it."""
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code or 0, out, err
