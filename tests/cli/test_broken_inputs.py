"""Every subcommand against broken homes, config files, input files and arguments (issue 15, Build).

The commands are enumerated from the typer app, so a new subcommand is covered without editing this file. Each
case runs the CLI in-process (``tradesig.cli.main.main``, as the console script does) with the library's log
records sent to stderr as the real root logger would, under an alarm so a hang fails instead of blocking, and
asserts:

* a documented exit code (0, 1, 2, 3, 255; a usage error is 2 with click's short usage message);
* a failure says so in exactly one line on stderr (``tradesig: …``); nothing anywhere says ``Traceback``;
* nothing half-written: no temporary or staging files left, the file standing in the home's way unchanged, and a
  command that failed left no file in the data home.

Scenarios: an unknown option (every command), a config file (or calendar override file) that is not UTF-8, a data
home under a regular file,
a data home that is a regular file, a data home whose every file is garbage (Parquet parts, events log, journal,
tokens, catalog, kill switch, archives), and every file/directory parameter given a garbage file (inputs) or a
path under a regular file (outputs). Network is never waited for: the Kite roots and every ``--url``/``--sim-url``/
``--hub`` point at a closed loopback port.
A few real subprocesses at the end check that the in-process harness sees what a shell would.
"""

from __future__ import annotations

import logging
import os
import pathlib
import signal
import socket
import subprocess
import sys
import typing
from pathlib import Path

import pytest
import typer

from tradesig.cli.main import app

DOCUMENTED_EXIT_CODES = {0, 1, 2, 3, 255}
ALARM_SECONDS = 90
LEFTOVER_MARKS = (".tmp", ".restore-", ".old-", ".write-probe-", ".backup-")
#: (command, scenario) pairs that cannot apply, with the reason
NOT_APPLICABLE = {
    ("sim serve", "home"): "the sim keeps no data home (its broken inputs: a busy port, tests/cli/test_tracebacks.py)",
    ("sim serve", "home_is_file"): "the sim keeps no data home",
    ("demo", "config"): "the demo writes and uses its own config in its home; it would run the whole demo day",
}
NOT_APPLICABLE[("login", "overrides")] = "login reads no calendar; with a good home it waits for the redirect"
NOT_APPLICABLE[("demo", "overrides")] = "the demo uses its own config directory; it would run the whole demo day"
for _service in ("feed", "login", "trade start", "sim serve", "demo"):
    NOT_APPLICABLE[(_service, "corrupt_home")] = "a service that waits (for a token, the hub or a redirect) by design"
#: files of a data home filled with garbage for the corrupt_home scenario (home-relative)
CORRUPT_FILES = ("bars/interval=1m/date=2024-06-04/part-0001.parquet", "ticks/date=2024-06-04/part-0001.parquet",
                 "bars/extended/interval=1m/date=2024-06-04/part-0001.parquet", "events/2024-06-04.jsonl",
                 "journal/2024-06-04/seg-0001.bin", "tokens/kite.json", "tokens/breeze.json", "tradesig.duckdb",
                 "trade/kill-switch.json", "state/feed.json", "backups/tradesig-20240604T210000Z.tar.gz",
                 "backups/tradesig-20240604T210000Z.tar.gz.verified")
#: commands that write on purpose before they can fail (the leftover check of the data home does not apply)
WRITES_FIRST = {"trade flatten": "engages the kill switch (and logs it) before it reaches the broker, by design"}
#: (command, scenario) -> a warning line the command prints on purpose before carrying on
WARNS_FIRST = {("systemd alert", "config"): "config unusable"}
#: commands whose exit 1 is a documented answer ("no"), printed on stdout with nothing on stderr; which answer they
#: give depends on the hour and day the suite runs (a good home: the market's answer, not a failure)
ANSWERS_BY_EXIT = {"calendar in-session": "outside the session window", "calendar is-trading-day": "not a trading day"}


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


CLOSED_PORT = _closed_port()


def leaf_commands() -> dict[str, typing.Any]:
    """Every runnable command of the CLI by path ('trade start', 'token-check', …)."""
    found: dict[str, typing.Any] = {}

    def walk(command, path: str, parent) -> None:
        if not hasattr(command, "list_commands"):
            found[path] = command
            return
        ctx = typer.Context(command, info_name=path or "tradesig", parent=parent, resilient_parsing=True)
        for name in command.list_commands(ctx):
            walk(command.get_command(ctx, name), f"{path} {name}".strip(), ctx)

    walk(typer.main.get_command(app), "", None)
    return found


COMMANDS = leaf_commands()

# a plausible value for required parameters that are not files, by name (anything else: by type)
SAMPLE_VALUES = {"symbol": "NIFTY", "symbols": "NIFTY", "position_id": "B-1", "spec": "drop", "start": "2024-06-04",
                 "end": "2024-06-04", "unit": "tradesig-feed.service", "year": "2026"}
OUTPUT_PARAMS = {"dest", "out", "to", "unit_dir", "outbox", "cron"}


def _annotation(param) -> typing.Any:
    ann = getattr(getattr(param, "type_descriptor", None), "annotation", None)
    args = [a for a in typing.get_args(ann) if a is not type(None)]
    return args[0] if typing.get_origin(ann) in (list, tuple, typing.Union) and args else ann


def _is_path(param) -> bool:
    return _annotation(param) is pathlib.Path


def _value(param, files: dict[str, Path]) -> str:
    ann = _annotation(param)
    if ann is pathlib.Path:
        return str(files["out"] if param.name in OUTPUT_PARAMS else files["garbage"])
    if param.name in SAMPLE_VALUES:
        return SAMPLE_VALUES[param.name]
    if isinstance(ann, type) and issubclass(ann, __import__("enum").Enum):
        return str(next(iter(ann)).value)
    if ann in (int, float):
        return "1"
    return "x"


def _with(param, value: str) -> list[str]:
    return [value] if param.param_type_name == "argument" else [param.opts[0], value]


def build_args(path: str, scenario: str, files: dict[str, Path]) -> list[str]:
    """argv for one case: global options for the scenario, the command, its required parameters, loopback-only
    network options, then the scenario's breakage."""
    command = COMMANDS[path]
    root = {"config": ["--config", str(files["bad_config"])], "home": ["--home", str(files["under_file"])],
            "home_is_file": ["--home", str(files["blocker"])], "corrupt_home": ["--home", str(files["corrupt"])]}
    args = [*root.get(scenario, ["--home", str(files["home"])]), *path.split()]
    for param in command.params:
        if scenario == "files" and _is_path(param):
            args += _with(param, _value(param, files))
        elif param.required:
            args += _with(param, _value(param, files))
        elif param.name in ("url", "sim_url"):
            args += _with(param, f"http://127.0.0.1:{CLOSED_PORT}")
        elif param.name == "hub":
            args += _with(param, f"ws://127.0.0.1:{CLOSED_PORT}/ws")
    if scenario == "option":
        args.append("--no-such-option")
    if scenario == "overrides":  # the calendar override file of the default config directory is not UTF-8
        overrides = files["xdg_config"] / "tradesig" / "calendar-overrides.toml"
        overrides.parent.mkdir(parents=True, exist_ok=True)
        overrides.write_bytes(b'[[holiday]]\ndate = "2026-11-23"\nname = "\xff"\n')
    return args


def _has_path_param(path: str) -> bool:
    return any(_is_path(p) for p in COMMANDS[path].params)


SCENARIOS = ("option", "config", "overrides", "home", "home_is_file", "corrupt_home", "files")
CASES = [(path, scenario) for path in COMMANDS for scenario in SCENARIOS
         if (scenario != "files" or _has_path_param(path))]


@pytest.fixture
def broken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """The broken things, inside tmp_path: a file standing where a directory should be, a non-UTF-8 config,
    a garbage input file; and a good (not yet created) data home for the scenarios that break something else."""
    blocker = tmp_path / "blocker"
    blocker.write_bytes(b"a regular file, not a directory\n")
    bad_config = tmp_path / "bad.toml"
    bad_config.write_bytes(b'[kite]\napi_key = "\xff\xfe"\n')
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(bytes(range(256)) * 4)
    corrupt = tmp_path / "corrupt-home"
    for rel in CORRUPT_FILES:
        (corrupt / rel).parent.mkdir(parents=True, exist_ok=True)
        (corrupt / rel).write_bytes(b"\x00\xffnot what this file should hold\n" * 3)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("TRADESIG_KITE_ROOT", f"http://127.0.0.1:{CLOSED_PORT}")
    monkeypatch.setenv("TRADESIG_KITE_WS_ROOT", f"ws://127.0.0.1:{CLOSED_PORT}")
    for var in ("TRADESIG_HOME", "TRADESIG_CONFIG", "STATE_DIRECTORY", "CREDENTIALS_DIRECTORY",
                "TRADESIG_KITE_API_SECRET"):
        monkeypatch.delenv(var, raising=False)
    return {"blocker": blocker, "under_file": blocker / "home", "out": blocker / "out", "bad_config": bad_config,
            "garbage": garbage, "home": tmp_path / "home", "corrupt": corrupt, "xdg_config": tmp_path / "xdg-config"}


def _alarm(signum, frame):  # noqa: ARG001
    raise TimeoutError(f"the command did not finish within {ALARM_SECONDS} s")


def run_in_process(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str, BaseException | None]:
    """Run ``tradesig ARGS`` as the console script does; WARNING+ log records go to stderr as in a real run.
    Returns (exit code, stdout, stderr, the exception that escaped main() if any: a traceback in real life)."""
    from tradesig.cli.main import main

    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.WARNING)
    root = logging.getLogger()
    root.addHandler(handler)
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(ALARM_SECONDS)
    capsys.readouterr()
    escaped: BaseException | None = None
    code = 0
    try:
        main(args)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException as exc:  # noqa: BLE001 - anything escaping main() is a traceback for the user
        escaped, code = exc, 1
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        root.removeHandler(handler)
    out, err = capsys.readouterr()
    return code, out, err, escaped


def _leftovers(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if any(m in p.name for m in LEFTOVER_MARKS))


@pytest.mark.parametrize(("path", "scenario"), CASES, ids=[f"{p.replace(' ', '-')}:{s}" for p, s in CASES])
def test_broken_input_gives_one_line_and_a_documented_exit_code(path, scenario, broken, tmp_path, capsys):
    if (path, scenario) in NOT_APPLICABLE:
        pytest.skip(NOT_APPLICABLE[(path, scenario)])
    args = build_args(path, scenario, broken)
    before = broken["blocker"].read_bytes()
    code, out, err, escaped = run_in_process(args, capsys)
    shown = f"tradesig {' '.join(args)}\nexit {code}\nstderr:\n{err}"
    assert escaped is None, f"{shown}\nescaped main(): {type(escaped).__name__}: {escaped}"
    assert "Traceback" not in err + out, shown
    assert code in DOCUMENTED_EXIT_CODES, shown
    lines = [line for line in err.splitlines() if line.strip()]
    if scenario == "option":
        assert code == 2 and "No such option" in err and len(lines) <= 6, shown
    elif code == 1 and path in ANSWERS_BY_EXIT and not lines:
        assert ANSWERS_BY_EXIT[path] in out, shown
    elif code != 0:
        if (path, scenario) in WARNS_FIRST and lines and WARNS_FIRST[(path, scenario)] in lines[0]:
            lines = lines[1:]
        itemised = len(lines) > 1 and "above" in lines[-1]  # each problem on its own line, then the summary
        assert (len(lines) == 1 or itemised) and lines[-1].startswith("tradesig: "), shown
    assert broken["blocker"].read_bytes() == before, shown
    assert _leftovers(tmp_path) == [], shown
    home = broken["home"]
    if code != 0 and home.exists() and path not in WRITES_FIRST:
        # an empty per-role lock file (tradesig.store.lock; flock needs a file that stays) is not data
        written = [p for p in home.rglob("*") if p.is_file()
                   and not (p.parent.name == "locks" and p.suffix == ".lock" and p.stat().st_size == 0)]
        assert written == [], f"{shown}\nleft in the data home: {written}"


def test_every_command_is_swept():
    assert len(COMMANDS) >= 30 and {"feed", "trade flatten", "history import", "backup restore"} <= set(COMMANDS)
    covered = {path for path, _ in CASES}
    assert covered == set(COMMANDS)
    assert {s for p, s in CASES if p == "backup restore"} == set(SCENARIOS)


# ------------------------------------------------------------------------------ the harness vs a real process


@pytest.mark.parametrize("case", [("history import", "home"), ("config show", "config"), ("backup verify", "files")])
def test_real_process_agrees(case, broken, tmp_path):
    """The same cases as real subprocesses: stderr is what a shell shows (logging included), exit code alike."""
    path, scenario = case
    args = build_args(path, scenario, broken)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    proc = subprocess.run([sys.executable, "-m", "tradesig", *args], capture_output=True, text=True, timeout=120,
                          env=env, cwd=tmp_path)
    assert proc.returncode in (1, 2) and "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("tradesig: "), proc.stderr
