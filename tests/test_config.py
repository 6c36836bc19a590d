"""``tradesig config``: check catches each problem (a test per problem), show never prints a secret."""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path

import pytest

from tradesig.config import load_config, resolve_secret
from tradesig.errors import ConfigError

GOOD = '[kite]\napi_key = "kx7f3q9w2e8r4t6y"\napi_secret = "secret:kite_api_secret"\n'
# real-looking secrets (shape of a Kite API secret: 32 lowercase alphanumerics)
ENV_SECRET = "p4k9d2m7x1q8w3e6r5t0y9u2i7o4a1s6"
FILE_SECRET = "z8x7c6v5b4n3m2l1k0j9h8g7f6d5s4a3"
CRED_SECRET = "q1w2e3r4t5y6u7i8o9p0a1s2d3f4g5h6"


@pytest.fixture
def cfg_dir(home: Path) -> Path:
    path = Path(os.environ["XDG_CONFIG_HOME"]) / "tradesig"
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_config(cfg_dir: Path, text: str) -> Path:
    path = cfg_dir / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def write_secrets(cfg_dir: Path, text: str, mode: int = 0o600) -> Path:
    path = cfg_dir / "secrets.toml"
    path.write_text(text, encoding="utf-8")
    os.chmod(path, mode)
    return path


def problem_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if not line.startswith("tradesig: ")]


# ------------------------------------------------------------------------------------------ a clean config


def test_check_passes_on_a_complete_config(run_cli, cfg_dir, monkeypatch):
    write_config(cfg_dir, GOOD)
    monkeypatch.setenv("TRADESIG_KITE_API_SECRET", ENV_SECRET)
    code, out, err = run_cli("config", "check")
    assert (code, err) == (0, "")
    assert out.startswith(f"{cfg_dir / 'config.toml'}: ok (data home ")


# ------------------------------------------------------------------------------------------ one test per problem


def test_check_unknown_key(run_cli, cfg_dir, monkeypatch):
    monkeypatch.setenv("TRADESIG_KITE_API_SECRET", ENV_SECRET)
    write_config(cfg_dir, GOOD + 'colour = "red"\n[risk]\nmax_lost = 5\n')
    code, _, err = run_cli("config", "check")
    assert code == 2
    lines = problem_lines(err)
    assert any(line.endswith("kite.colour: unknown key") for line in lines)
    assert any(line.endswith("risk.max_lost: unknown key") for line in lines)
    assert len(lines) == 2
    assert "tradesig: 2 problem(s) in the configuration" in err


def test_check_wrong_type(run_cli, cfg_dir, monkeypatch):
    monkeypatch.setenv("TRADESIG_KITE_API_SECRET", ENV_SECRET)
    write_config(cfg_dir, GOOD + 'timeout_seconds = "fast"\n[feed]\nsymbols = "NIFTY"\n[risk]\nmax_positions = true\n')
    code, _, err = run_cli("config", "check")
    lines = problem_lines(err)
    assert code == 2
    assert any(line.endswith("kite.timeout_seconds: expected a number, got str 'fast'") for line in lines)
    assert any(line.endswith("feed.symbols: expected a list of string, got str") for line in lines)
    assert any(line.endswith("risk.max_positions: expected a integer, got boolean") for line in lines)
    assert len(lines) == 3


def test_check_placeholder_credential(run_cli, cfg_dir, monkeypatch):
    monkeypatch.setenv("TRADESIG_KITE_API_SECRET", ENV_SECRET)
    code, out, _ = run_cli("config", "init")
    assert code == 0
    code, _, err = run_cli("config", "check")
    lines = problem_lines(err)
    assert code == 2
    assert lines == [f"{cfg_dir / 'config.toml'}: kite.api_key: placeholder 'YOUR_KITE_API_KEY'; set your API key"]


def test_check_placeholder_breeze_when_enabled(run_cli, cfg_dir, monkeypatch):
    monkeypatch.setenv("TRADESIG_KITE_API_SECRET", ENV_SECRET)
    monkeypatch.setenv("TRADESIG_BREEZE_API_SECRET", ENV_SECRET)
    write_config(cfg_dir, GOOD + "[breeze]\nenabled = true\n")
    code, _, err = run_cli("config", "check")
    assert code == 2
    assert [line.split(": ", 1)[1] for line in problem_lines(err)] == [
        "breeze.api_key: placeholder 'YOUR_BREEZE_API_KEY'; set your API key"]


def test_check_missing_secret(run_cli, cfg_dir):
    write_config(cfg_dir, GOOD)
    code, _, err = run_cli("config", "check")
    lines = problem_lines(err)
    assert code == 2 and len(lines) == 1
    assert "kite.api_secret: secret 'kite_api_secret' not found" in lines[0]
    assert "TRADESIG_KITE_API_SECRET" in lines[0]


def test_check_empty_secret_reference(run_cli, cfg_dir):
    write_config(cfg_dir, GOOD.replace('"secret:kite_api_secret"', '""'))
    code, _, err = run_cli("config", "check")
    lines = problem_lines(err)
    assert code == 2 and len(lines) == 1 and "kite.api_secret: missing" in lines[0]


def test_check_missing_secret_not_required_with_no_credentials(run_cli, cfg_dir):
    write_config(cfg_dir, GOOD)
    code, out, _ = run_cli("config", "check", "--no-credentials")
    assert code == 0 and ": ok " in out


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660, 0o610])
def test_check_secrets_file_readable_by_group_or_others_is_refused(run_cli, cfg_dir, monkeypatch, mode):
    write_config(cfg_dir, GOOD)
    path = write_secrets(cfg_dir, f'kite_api_secret = "{FILE_SECRET}"\n', mode)
    monkeypatch.setenv("TRADESIG_KITE_API_SECRET", ENV_SECRET)  # refused even when env holds the secret
    code, out, err = run_cli("config", "check")
    lines = problem_lines(err)
    assert code == 2 and len(lines) == 1
    assert f"secrets file {path} is accessible by group/others (mode {mode:04o}); refused" in lines[0]
    assert f"chmod 600 {path}" in lines[0]
    assert FILE_SECRET not in out + err


def test_resolve_secret_refuses_loose_secrets_file(home, cfg_dir):
    cfg = write_config(cfg_dir, GOOD)
    write_secrets(cfg_dir, f'kite_api_secret = "{FILE_SECRET}"\n', 0o644)
    loaded = load_config(cfg, env={})
    with pytest.raises(ConfigError, match="refused"):
        resolve_secret(loaded, "secret:kite_api_secret", env={})
    os.chmod(cfg_dir / "secrets.toml", 0o600)
    assert resolve_secret(loaded, "secret:kite_api_secret", env={}) == FILE_SECRET


def test_check_secrets_file_0600_is_accepted(run_cli, cfg_dir):
    write_config(cfg_dir, GOOD)
    write_secrets(cfg_dir, f'kite_api_secret = "{FILE_SECRET}"\n', 0o600)
    code, out, err = run_cli("config", "check")
    assert (code, err) == (0, "")


def test_check_named_secrets_file_missing(run_cli, cfg_dir, tmp_path):
    write_config(cfg_dir, GOOD + f'[secrets]\nfile = "{tmp_path / "absent.toml"}"\n')
    code, _, err = run_cli("config", "check")
    lines = problem_lines(err)
    assert code == 2 and len(lines) == 1 and "absent.toml does not exist" in lines[0]


def test_check_path_that_cannot_be_created(run_cli, cfg_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("TRADESIG_KITE_API_SECRET", ENV_SECRET)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory\n", encoding="utf-8")
    write_config(cfg_dir, f'[paths]\nhome = "{blocker / "data"}"\n' + GOOD)
    code, _, err = run_cli("config", "check")
    lines = problem_lines(err)
    assert code == 2 and len(lines) == 1
    assert f"data home {blocker / 'data'}: cannot be created ({blocker} is not a writable directory)" in lines[0]


def test_check_home_option_that_cannot_be_created(run_cli, cfg_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("TRADESIG_KITE_API_SECRET", ENV_SECRET)
    write_config(cfg_dir, GOOD)
    blocker = tmp_path / "b-file"
    blocker.write_text("", encoding="utf-8")
    code, _, err = run_cli("--home", str(blocker / "x" / "y"), "config", "check")
    assert code == 2 and "cannot be created" in err


def test_check_literal_secret_in_config(run_cli, cfg_dir):
    write_config(cfg_dir, GOOD.replace('"secret:kite_api_secret"', f'"{FILE_SECRET}"'))
    code, out, err = run_cli("config", "check")
    lines = problem_lines(err)
    assert code == 2 and len(lines) == 1
    assert "kite.api_secret: a literal secret in the config file" in lines[0]
    assert FILE_SECRET not in out + err


def test_check_reports_every_problem_in_one_pass(run_cli, cfg_dir, tmp_path):
    blocker = tmp_path / "c-file"
    blocker.write_text("", encoding="utf-8")
    write_config(cfg_dir, f'bogus = 1\n[paths]\nhome = "{blocker / "d"}"\n[kite]\n'
                          f'api_secret = "{FILE_SECRET}"\ntimeout_seconds = "x"\n')
    write_secrets(cfg_dir, "", 0o644)
    code, out, err = run_cli("config", "check")
    text = "\n".join(problem_lines(err))
    assert code == 2
    for fragment in ("bogus: unknown key", "expected a number", "literal secret", "placeholder",
                     "accessible by group/others", "cannot be created"):
        assert fragment in text, fragment
    assert FILE_SECRET not in out + err


def test_check_invalid_toml_is_one_line(run_cli, cfg_dir):
    write_config(cfg_dir, "[kite\n")
    code, _, err = run_cli("config", "check")
    assert code == 2 and "not valid TOML" in err and err.count("\n") == 1


# ------------------------------------------------------------------------------------------ show never leaks


@pytest.fixture
def secrets_everywhere(cfg_dir, tmp_path, monkeypatch) -> list[str]:
    write_config(cfg_dir, GOOD + "[breeze]\nenabled = true\napi_key = \"b7b7b7b7b7b7\"\n")
    write_secrets(cfg_dir, f'kite_api_secret = "{FILE_SECRET}"\nbreeze_api_secret = "{FILE_SECRET}"\n')
    monkeypatch.setenv("TRADESIG_KITE_API_SECRET", ENV_SECRET)
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "breeze_api_secret").write_text(CRED_SECRET + "\n", encoding="utf-8")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    return [ENV_SECRET, FILE_SECRET, CRED_SECRET]


@pytest.mark.parametrize("fmt", ["toml", "json"])
def test_show_never_prints_a_secret(run_cli, secrets_everywhere, fmt):
    code, out, err = run_cli("config", "show", "--format", fmt)
    assert code == 0
    for secret in secrets_everywhere:
        for piece in (secret, secret[:12], secret[-12:]):
            assert piece not in out + err
    # the references are shown instead
    settings = json.loads(out)["settings"] if fmt == "json" else tomllib.loads(out)
    assert settings["kite"]["api_secret"] == "secret:kite_api_secret"
    assert settings["breeze"]["api_secret"] == "secret:breeze_api_secret"


def test_check_never_prints_a_secret(run_cli, secrets_everywhere):
    code, out, err = run_cli("config", "check")
    assert code == 0
    for secret in secrets_everywhere:
        assert secret not in out + err


def test_secrets_resolve_from_each_source(home, secrets_everywhere, cfg_dir):
    loaded = load_config(cfg_dir / "config.toml")
    assert resolve_secret(loaded, "secret:kite_api_secret") == ENV_SECRET  # env first
    assert resolve_secret(loaded, "secret:breeze_api_secret") == CRED_SECRET  # then $CREDENTIALS_DIRECTORY
    assert resolve_secret(loaded, "secret:breeze_api_secret", env={}) == FILE_SECRET  # then the secrets file


def test_show_refuses_literal_secret_without_printing_it(run_cli, cfg_dir):
    write_config(cfg_dir, GOOD.replace('"secret:kite_api_secret"', f'"{FILE_SECRET}"'))
    for fmt in ("toml", "json"):
        code, out, err = run_cli("config", "show", "--format", fmt)
        assert code == 2 and "literal secret" in err
        assert FILE_SECRET not in out + err


@pytest.mark.parametrize("value", ["123456789012345678", f'["{FILE_SECRET}"]', f'{{ v = "{FILE_SECRET}" }}'])
def test_wrong_typed_secret_is_not_echoed(run_cli, cfg_dir, value):
    write_config(cfg_dir, GOOD.replace('"secret:kite_api_secret"', value))
    for args in (("config", "check"), ("config", "show"), ("config", "show", "--format", "json")):
        code, out, err = run_cli(*args)
        assert code == 2 and "kite.api_secret: expected a string" in err
        assert FILE_SECRET not in out + err and "123456789012345678" not in out + err


# ------------------------------------------------------------------------------------------ init


def test_init_writes_a_valid_default_and_refuses_overwrite(run_cli, cfg_dir):
    code, out, _ = run_cli("config", "init")
    path = cfg_dir / "config.toml"
    assert code == 0 and out.startswith(f"wrote {path}")
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert run_cli("config", "check", "--no-credentials")[0] == 0
    code, _, err = run_cli("config", "init")
    assert code == 2 and "already exists" in err and "--force" in err
    path.write_text("# changed\n", encoding="utf-8")
    assert run_cli("config", "init", "--force")[0] == 0
    assert "[kite]" in path.read_text(encoding="utf-8")


# ------------------------------------------------------------------------------------------ each field's check


@pytest.mark.parametrize("text, fragment", [
    ('[hub]\nlisten = "0.0.0.0:99999"\n', "hub.listen: '0.0.0.0:99999' is not HOST:PORT with a port from 1 to 65535"),
    ('[hub]\nlisten = "8765"\n', "hub.listen: '8765' is not HOST:PORT"),
    ("[risk]\nmarket_protection = -5.0\n", "risk.market_protection: must be -1 (automatic) or a percentage"),
    ("[risk]\nmarket_protection = 0\n", "risk.market_protection: must be -1 (automatic)"),
    ("[risk]\nmax_orders_per_minute = 401\n", "risk.max_orders_per_minute: must be between 1 and 400, got 401"),
    ("[risk]\nmax_daily_loss = -1.0\n", "risk.max_daily_loss: must be greater than 0, got -1.0"),
    ("[risk]\nmax_daily_loss = nan\n", "risk.max_daily_loss: must be a finite number, got nan"),
    ("timeout_seconds = inf\n", "kite.timeout_seconds: must be a finite number, got inf"),
    ("[paper]\nlatency_ms = -1\n", "paper.latency_ms: must be between 0 and 60000, got -1"),
    ("[backtest]\niv = 0\n", "backtest.iv: must be greater than 0, got 0.0"),
    ("[charges]\ngst_pct = 118.0\n", "charges.gst_pct: must be between 0 and 100, got 118.0"),
    ('[charges]\neffective_from = "2024-13-01"\n', "charges.effective_from: '2024-13-01' is not a YYYY-MM-DD date"),
    ("[instruments.NIFTY]\nstrike_step = 0\n", "instruments.NIFTY.strike_step: must be between 1 and 10000, got 0"),
    ('root = "ftp://example.com"\n', "kite.root: 'ftp://example.com' is not a http/https URL"),
    ('[feed]\nuntil = "25:00"\n', "feed.until: '25:00' is not an HH:MM time"),
    ('[feed]\nsymbols = ["NIFTY", "DOW"]\n', "feed.symbols: unknown index 'DOW'"),
    ('[session]\nopen = "09:05"\n', "session.open: 09:05 must be after session.pre_open_match (09:08)"),
    ("[strategy]\nprofit_lock_floor_pct = 20.0\n", "strategy.profit_lock_floor_pct: 20.0 must be below"),
])
def test_check_rejects_out_of_range_values_one_line_each(run_cli, cfg_dir, monkeypatch, text, fragment):
    monkeypatch.setenv("TRADESIG_KITE_API_SECRET", ENV_SECRET)
    write_config(cfg_dir, GOOD + text)
    code, _, err = run_cli("config", "check")
    lines = problem_lines(err)
    assert code == 2 and len(lines) == 1, lines
    assert fragment in lines[0]
    assert "Traceback" not in err


def test_market_protection_automatic_is_accepted(run_cli, cfg_dir, monkeypatch):
    monkeypatch.setenv("TRADESIG_KITE_API_SECRET", ENV_SECRET)
    write_config(cfg_dir, GOOD + '[risk]\nmarket_protection = -1\n[hub]\nlisten = "[::1]:9000"\n')
    code, out, err = run_cli("config", "check")
    assert (code, err) == (0, "") and ": ok " in out


def test_every_default_passes_its_own_check():
    from tradesig.config import parse_settings
    from tradesig.config_render import Settings as RenderedSettings
    from tradesig.config_render import settings_to_dict

    settings, problems = parse_settings(settings_to_dict(RenderedSettings(), redact_secrets=False))
    assert problems == []


def test_env_override_is_validated_with_the_file(run_cli, cfg_dir, monkeypatch):
    monkeypatch.setenv("TRADESIG_KITE_API_SECRET", ENV_SECRET)
    monkeypatch.setenv("TRADESIG_KITE_ROOT", "127.0.0.1:9999")
    write_config(cfg_dir, GOOD + "[risk]\nmax_positions = 0\n")
    code, _, err = run_cli("config", "check")
    lines = problem_lines(err)
    assert code == 2 and len(lines) == 2
    assert any("kite.root (from $TRADESIG_KITE_ROOT): '127.0.0.1:9999' is not a http/https URL" in line
               for line in lines)
    # a good override wins over the file and is used
    monkeypatch.setenv("TRADESIG_KITE_ROOT", "http://127.0.0.1:9999")
    write_config(cfg_dir, GOOD)
    assert load_config(cfg_dir / "config.toml").settings.kite.root == "http://127.0.0.1:9999"


def test_other_commands_list_every_problem_one_per_line(run_cli, cfg_dir):
    path = write_config(cfg_dir, GOOD + '[hub]\nlisten = "0.0.0.0:99999"\n[risk]\nmarket_protection = -5.0\n')
    code, out, err = run_cli("config", "show")
    lines = err.splitlines()
    assert code == 2 and out == ""
    assert lines[0].startswith(f"tradesig: {path}: hub.listen: ")
    assert lines[1].startswith(f"tradesig: {path}: risk.market_protection: ")
    assert lines[2].startswith(f"tradesig: {path}: 2 problems in the configuration")
    assert len(lines) == 3


# ------------------------------------------------------------------------------------------ unreadable files


@pytest.mark.parametrize("raw, fragment", [
    (b'[kite]\napi_key = "\xff\xfe"\n', "not UTF-8 text (byte offset 18)"),
    (b"x = " + b"[" * 5000 + b"]" * 5000 + b"\n", "not valid TOML"),
    (b"x = " + b"{a = " * 5000 + b"1" + b"}" * 5000 + b"\n", "not valid TOML"),
])
@pytest.mark.parametrize("command", [("config", "check"), ("config", "show")])
def test_unparseable_config_is_one_line(run_cli, cfg_dir, raw, fragment, command):
    (cfg_dir / "config.toml").write_bytes(raw)
    code, out, err = run_cli(*command)
    assert code == 2 and fragment in err and err.count("\n") == 1 and "Traceback" not in err


def test_init_under_a_file_is_one_line_and_leaves_nothing(run_cli, tmp_path):
    blocker = tmp_path / "plain-file"
    blocker.write_text("x\n", encoding="utf-8")
    code, out, err = run_cli("--config", str(blocker / "sub" / "config.toml"), "config", "init")
    assert code == 2 and err.count("\n") == 1 and "cannot write" in err and "Traceback" not in err
    assert blocker.read_text(encoding="utf-8") == "x\n" and not list(tmp_path.rglob("*.tmp"))


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs /proc")
def test_init_in_proc_is_one_line(run_cli):
    code, out, err = run_cli("--config", "/proc/tradesig-config.toml", "config", "init")
    assert code == 2 and err.count("\n") == 1 and "cannot write /proc/tradesig-config.toml" in err
