import subprocess
import sys

from tradesig.cli.main import SUBCOMMANDS, available_subcommands


def test_help_imports_no_heavy_modules():
    code = ("import sys; from tradesig.cli.main import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('polars', 'duckdb', 'pandas', 'kiteconnect', 'numpy', 'talib', 'exchange_calendars')"
            " if m in sys.modules]\n"
            "print('HEAVY', heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "HEAVY []" in out
    assert "Commands" in out


def test_help_lists_only_present_commands(run_cli):
    code, out, _ = run_cli("--help")
    assert code == 0
    present = available_subcommands()
    assert present, "at least one subcommand module exists"
    for name in SUBCOMMANDS:
        assert (f"  {name} " in out) == (name in present), name


def test_every_command_has_help(run_cli):
    for name in available_subcommands():
        code, out, _ = run_cli(name, "--help")
        assert code == 0, name
        assert "Usage:" in out, name


def test_version(run_cli):
    code, out, _ = run_cli("--version")
    assert code == 0 and out.startswith("tradesig ")


def test_unknown_command_is_usage_error(run_cli):
    code, _, err = run_cli("no-such-command")
    assert code == 2
    assert "No such command" in err
