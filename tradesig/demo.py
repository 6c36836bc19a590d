"""``tradesig demo``: the whole trading day end to end, in a throwaway data home, on loopback.

Every step is the real command, run as its own process, exactly as systemd would run it:

1. ``tradesig sim serve`` replays a recorded session (``--data``; else a seeded synthetic one, labelled
   SYNTHETIC everywhere) at ``--speed`` and holds its clock until the feed subscribes;
2. ``tradesig login`` — a scripted browser follows the login URL, the sim redirects to login's loopback
   listener, the access token lands in a 0600 file; then ``tradesig token-check``;
3. ``tradesig history backfill`` fetches the previous sessions' 1-minute bars through Kite's historical API
   (the weekly S1–S8 context needs last week's hourly bars);
4. ``tradesig feed --serve`` streams, journals and stores ticks and bars and serves the viewer hub;
5. ``tradesig signals board --follow`` and ``tradesig trade start --mode paper`` follow the hub;
6. after the replayed close, ``tradesig report``; the demo also checks the stored 1-minute bars against the
   recording and prints the closing board.

``--data-source breeze``: the sim also serves ICICI Breeze (``--breeze-port``), ``tradesig login --broker breeze``
logs in there too (the scripted browser follows the sim's Breeze login page), and the feed runs
``--source breeze`` (breeze.root = the sim's Breeze port): market data from Breeze, orders through Kite.

Timing: a 375-minute session at 750× replays in 30 s of wall time; the whole demo (login, a 14-day history
backfill, the session, the report) takes about 45 s on an idle 2-core machine. The sim paces its replay to the
feed (docs/sim.md), so on a loaded machine the demo takes longer instead of the feed trailing the market.

Process hygiene: each child runs in a process group of its own (a new session), so a terminal's Ctrl-C or a
``kill`` of the demo reaches the demo alone; the demo forwards SIGINT/SIGTERM to every child's group, waits for
them (SIGKILL after a grace period), and removes its temporary data home unless ``keep`` (a home given with
``--home`` is never removed; after a failed step the temporary home is kept, since the error names its log).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from tradesig.errors import BrokerError, DataError, TradesigError
from tradesig.feed.follow import sim_state

SIM_API_KEY = "tradesig-sim"
SIM_API_SECRET = "tradesig-sim-secret"  # the sim's documented, public test secret (not a credential)
DEFAULT_SPEED = 750.0


@dataclass
class DemoOptions:
    """``data``: recorded 1-minute bar files (empty: synthetic); ``day``: session to replay (None: the sim's
    default); ``speed``: sim seconds per wall second; ``home``: data home (None: a new temporary directory,
    removed at the end unless ``keep``)."""

    data: list[Path] = field(default_factory=list)
    day: date | None = None
    speed: float = DEFAULT_SPEED
    home: Path | None = None
    interval: str = "15m"
    keep: bool = False
    data_source: str = "kite"  # kite | breeze: where the feed streams from (orders: Kite)


@dataclass
class DemoResult:
    home: Path
    day: date
    synthetic: bool
    bars_checked: dict[str, tuple[int, int]]  # symbol -> (equal 1m bars, recorded 1m bars)
    report: str
    wall_seconds: float
    kept: bool = True  # False: the temporary data home was removed


class DemoInterrupted(BaseException):
    """SIGINT or SIGTERM reached the demo; its children were stopped with the same signal and waited for.

    A BaseException, so that the polling loops' ``except Exception`` never swallow it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class _Signals:
    """SIGINT/SIGTERM handler raising :class:`DemoInterrupted`, held back while a child is being spawned and
    registered (so no child can start unseen by the clean-up)."""

    def __init__(self) -> None:
        self.holding = False
        self.pending: int | None = None

    def __call__(self, signum: int, _frame: object) -> None:
        if self.holding:
            self.pending = signum
            return
        raise DemoInterrupted(signum)

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        self.holding = True
        try:
            yield
        finally:
            self.holding = False
            if self.pending is not None:
                signum, self.pending = self.pending, None
                raise DemoInterrupted(signum)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Procs:
    """The demo's child processes: each in its own process group (session), output in ``<home>/logs/NAME.log``;
    all stopped at the end (:meth:`stop_all`)."""

    def __init__(self, home: Path, env: dict[str, str]) -> None:
        self.home, self.env = home, env
        self.logs = home / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.running: dict[str, subprocess.Popen] = {}
        self.held: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "tradesig", "--home", str(self.home), *args]

    def start(self, name: str, *args: str) -> subprocess.Popen:
        log = (self.logs / f"{name}.log").open("wb")
        with self.held():
            proc = subprocess.Popen(self.command(*args), stdout=log, stderr=subprocess.STDOUT, env=self.env,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
            self.running[name] = proc
        return proc

    def run(self, name: str, *args: str, timeout: float = 120.0, check: bool = True) -> subprocess.CompletedProcess:
        with self.held():
            child = subprocess.Popen(self.command(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=self.env, stdin=subprocess.DEVNULL, start_new_session=True)
            self.running[name] = child
        try:
            stdout, stderr = child.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop(name)
            raise
        self.running.pop(name, None)
        proc = subprocess.CompletedProcess(child.args, child.returncode, stdout, stderr)
        (self.logs / f"{name}.log").write_text(proc.stdout + proc.stderr, encoding="utf-8")
        if check and proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or proc.stdout.strip().splitlines() or ["no output"])[-1]
            raise TradesigError(f"demo step '{name}' failed (exit {proc.returncode}): {last}",
                                f"see {self.logs / (name + '.log')}")
        return proc

    def stop(self, name: str, timeout: float = 20.0, signum: int = signal.SIGTERM) -> int | None:
        """Send ``signum`` to the child's process group, wait up to ``timeout`` s, then SIGKILL the group."""
        proc = self.running.pop(name, None)
        if proc is None:
            return None
        _signal_group(proc, signum)
        return _reap(proc, time.monotonic() + timeout)

    def stop_all(self, signum: int = signal.SIGTERM, timeout: float = 15.0) -> None:
        """Forward ``signum`` to every running child's group at once, then wait for all of them (one shared
        grace period; SIGKILL for the ones still running after it)."""
        procs = [self.running.pop(name) for name in reversed(list(self.running))]
        for proc in procs:
            _signal_group(proc, signum)
        deadline = time.monotonic() + timeout
        for proc in procs:
            _reap(proc, deadline)

    def tail(self, name: str, lines: int = 5) -> str:
        path = self.logs / f"{name}.log"
        text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
        return "\n".join(text.strip().splitlines()[-lines:])


def _signal_group(proc: subprocess.Popen, signum: int) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signum)  # the child leads its own session: pgid == pid
        except ProcessLookupError:
            pass


def _reap(proc: subprocess.Popen, deadline: float) -> int:
    try:
        return proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
    except subprocess.TimeoutExpired:
        _signal_group(proc, signal.SIGKILL)
        return proc.wait()
    finally:
        try:  # the group's other members (a child's own children), if any outlived it
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _hub_health(hub: str, timeout: float = 2.0) -> dict:
    """The feed hub's ``GET /health`` document (docs/viewer-protocol.md)."""
    import httpx

    response = httpx.get(f"{hub}/health", timeout=timeout)
    response.raise_for_status()
    return response.json()


def _wait(what: str, probe: Callable[[], object], timeout: float, proc: subprocess.Popen | None = None,
          procs: _Procs | None = None, name: str = "") -> object:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            tail = procs.tail(name) if procs else ""
            raise TradesigError(f"{what}: the process exited with {proc.returncode}: {tail.splitlines()[-1:]}",
                                f"see {procs.logs / (name + '.log')}" if procs else None)
        try:
            value = probe()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - polling a starting server: any failure means "not yet"
            last = exc
        time.sleep(0.1)
    raise BrokerError(f"{what} did not happen within {timeout:g} s ({last})")


def _write_config(home: Path, sim_url: str, hub_port: int, redirect_port: int, symbols: list[str],
                  breeze_url: str | None = None) -> Path:
    import tomli_w

    cfg = home / "config" / "config.toml"
    cfg.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "kite": {"api_key": SIM_API_KEY, "api_secret": "secret:kite_api_secret", "root": sim_url,
                 "ws_root": sim_url.replace("http://", "ws://"), "login_url": f"{sim_url}/connect/login",
                 "redirect_url": f"http://127.0.0.1:{redirect_port}/callback"},
        "feed": {"symbols": symbols, "until": "15:35"},
        "hub": {"listen": f"127.0.0.1:{hub_port}"},
    }
    if breeze_url:
        doc["breeze"] = {"enabled": True, "api_key": SIM_API_KEY, "api_secret": "secret:breeze_api_secret",
                         "root": breeze_url}
    cfg.write_text("# written by 'tradesig demo': the sim on loopback\n" + tomli_w.dumps(doc), encoding="utf-8")
    os.chmod(cfg, 0o600)
    return cfg


def _data_symbols(paths: list[Path]) -> list[str]:
    """Index symbols present in the recorded files (tradesig keys, e.g. NIFTY, BANKNIFTY)."""
    from tradesig.history import read_ohlc_file
    from tradesig.market import canonical_symbol

    found: list[str] = []
    for path in paths:
        if not path.exists():
            raise DataError(f"{path}: no such file", "pass a recorded 1-minute bar file, e.g. from ../shared/data")
        frame = read_ohlc_file(path)
        for name in frame.get_column("symbol").unique().sort().to_list() if "symbol" in frame.columns else []:
            try:
                sym = canonical_symbol(str(name))
            except KeyError:
                continue
            if sym not in found:
                found.append(sym)
    if not found:
        raise DataError("no NIFTY/BANKNIFTY/SENSEX rows in the --data files")
    return found


def _recorded_day(day: date, symbols: list[str], data: list[Path], home: Path, sim_url: str) -> dict:
    """The recorded 1m bars of ``day`` per symbol (ts UTC, open..close): from the ``--data`` files themselves, or,
    for a synthetic session, from the sim's historical API (the same series it replayed)."""
    import polars as pl

    from tradesig.clock import IST
    from tradesig.history import read_ohlc_file
    from tradesig.market import canonical_symbol

    cols = ["ts", "open", "high", "low", "close"]
    out: dict[str, pl.DataFrame] = {}
    if data:
        for path in data:
            frame = read_ohlc_file(path)
            frame = frame.filter(pl.col("ts").dt.convert_time_zone(IST.key).dt.date() == day)
            for name in frame.get_column("symbol").unique().to_list():
                sym = canonical_symbol(str(name))
                if sym in symbols:
                    out[sym] = frame.filter(pl.col("symbol") == name).select(cols).sort("ts")
        return out
    from datetime import datetime
    from datetime import time as dtime

    from tradesig.broker.kite import make_kite
    from tradesig.broker.tokens import TokenStore
    from tradesig.config import load_config
    from tradesig.feed.poller import KiteRest
    from tradesig.market import index_spec

    loaded = load_config(home / "config" / "config.toml", home)
    rest = KiteRest(make_kite(loaded.settings, TokenStore(home).load("kite").access_token), root=sim_url)
    for sym in symbols:
        bars = rest.historical_1m(index_spec(sym).token, sym, datetime.combine(day, dtime(9, 15), IST),
                                  datetime.combine(day, dtime(15, 29), IST))
        out[sym] = bars.select(cols).sort("ts")
    return out


def _check_bars(home: Path, day: date, symbols: list[str], data: list[Path],
                sim_url: str) -> dict[str, tuple[int, int]]:
    """(stored 1m bars equal to the recording, recorded bars) per symbol, comparing O/H/L/C exactly."""
    import polars as pl

    from tradesig.store.datasets import Store

    store = Store(home)
    out: dict[str, tuple[int, int]] = {}
    for sym, rec in _recorded_day(day, symbols, data, home, sim_url).items():
        stored = store.read_bars(sym, "1m", day, day).select("ts", "open", "high", "low", "close")
        joined = rec.join(stored, on="ts", how="left", suffix="_s")
        equal = joined.filter((pl.col("open") == pl.col("open_s")) & (pl.col("high") == pl.col("high_s"))
                              & (pl.col("low") == pl.col("low_s")) & (pl.col("close") == pl.col("close_s")))
        out[sym] = (equal.height, rec.height)
    return out


def run_demo(opts: DemoOptions, say: Callable[[str], None] = print) -> DemoResult:
    """Run the whole day; ``say`` receives progress lines. Raises :class:`TradesigError` naming the failed step
    and its log file, :class:`DemoInterrupted` after SIGINT/SIGTERM (forwarded to the children, which are waited
    for). Children are always stopped; a temporary data home is removed unless ``opts.keep`` (kept after a
    failed step, whose log it holds)."""
    symbols = _data_symbols(opts.data) if opts.data else ["NIFTY", "BANKNIFTY", "SENSEX"]
    temporary = opts.home is None
    home = opts.home or Path(tempfile.mkdtemp(prefix="tradesig-demo-"))
    home.mkdir(parents=True, exist_ok=True)
    handle = threading.current_thread() is threading.main_thread()
    signals = _Signals()
    previous = {s: signal.signal(s, signals) for s in (signal.SIGINT, signal.SIGTERM)} if handle else {}
    procs = _Procs(home, {})
    procs.held = signals.held
    stop_with, failed = signal.SIGTERM, False
    try:
        result = _run_day(opts, home, symbols, procs, say)
    except DemoInterrupted as exc:
        stop_with = exc.signum
        raise
    except BaseException:
        failed = True
        raise
    finally:
        for s in previous:  # a second signal must not cut the clean-up short
            signal.signal(s, signal.SIG_IGN)
        procs.stop_all(stop_with)
        remove = temporary and not opts.keep and not failed
        if remove:
            shutil.rmtree(home, ignore_errors=True)
        for s, handler in previous.items():
            signal.signal(s, handler)
    result.kept = not remove
    return result


def _run_day(opts: DemoOptions, home: Path, symbols: list[str], procs: _Procs,
             say: Callable[[str], None]) -> DemoResult:
    started = time.monotonic()
    sim_port, hub_port, redirect_port = _free_port(), _free_port(), _free_port()
    sim_url = f"http://127.0.0.1:{sim_port}"
    breeze = opts.data_source == "breeze"
    breeze_url = f"http://127.0.0.1:{_free_port()}" if breeze else None
    cfg = _write_config(home, sim_url, hub_port, redirect_port, symbols, breeze_url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADESIG_")}
    env.update({"TRADESIG_CONFIG": str(cfg), "TRADESIG_HOME": str(home), "TRADESIG_KITE_API_SECRET": SIM_API_SECRET,
                "TRADESIG_BREEZE_API_SECRET": SIM_API_SECRET, "PYTHONUNBUFFERED": "1"})
    procs.env = env
    say(f"data home   {home}")
    say(f"hub page    http://127.0.0.1:{hub_port}/  (the trader's page, served by the feed from step 4 on: open it "
        "in a browser)")
    sim_args = ["sim", "serve", "--port", str(sim_port), "--speed", f"{opts.speed:g}", "--wait-for-client",
                "--linger", "600", "--redirect-url", f"http://127.0.0.1:{redirect_port}/callback"]
    if breeze_url:
        sim_args += ["--breeze-port", breeze_url.rsplit(":", 1)[1]]
    for path in opts.data:
        sim_args += ["--data", str(path)]
    if opts.day:
        sim_args += ["--date", opts.day.isoformat()]
    sim = procs.start("sim", *sim_args)  # the demo stops it at the end: it serves the final checks after the feed
    state = _wait("the sim answering", lambda: sim_state(sim_url, timeout=2.0), 60, sim, procs, "sim")
    assert isinstance(state, dict)
    day = date.fromisoformat(state["date"])
    synthetic = bool(state.get("synthetic"))
    label = "SYNTHETIC session (seeded)" if synthetic else "recorded " + ", ".join(p.name for p in opts.data)
    say(f"[1/7] sim   {sim_url}  replaying {day} at {opts.speed:g}x: {label}")

    login = procs.start("login", "login", "--timeout", "60")
    login_url = f"{sim_url}/connect/login?api_key={SIM_API_KEY}&v=3"
    _wait("login's loopback listener", lambda: _port_open(redirect_port), 30, login, procs, "login")
    _browse(login_url)
    if login.wait(timeout=60) != 0:
        raise TradesigError(f"login failed: {procs.tail('login', 1)}", f"see {procs.logs / 'login.log'}")
    procs.running.pop("login", None)
    say(f"[2/7] login {procs.tail('login', 1)}")
    check = procs.run("token-check", "token-check", "--format", "json")
    doc = json.loads(check.stdout)
    user = doc.get("user") or {}
    say(f"      token-check: {doc.get('status')} (user {user.get('id') if isinstance(user, dict) else user})")
    if breeze_url:
        login = procs.start("login-breeze", "login", "--broker", "breeze", "--timeout", "60")
        _wait("login's loopback listener", lambda: _port_open(redirect_port), 30, login, procs, "login-breeze")
        _browse(f"{breeze_url}/apiuser/login?api_key={SIM_API_KEY}")
        if login.wait(timeout=60) != 0:
            raise TradesigError(f"Breeze login failed: {procs.tail('login-breeze', 1)}",
                                f"see {procs.logs / 'login-breeze.log'}")
        procs.running.pop("login-breeze", None)
        say(f"      breeze {procs.tail('login-breeze', 1)}  (market data: ICICI Breeze at {breeze_url})")

    back = procs.run("history-backfill", "history", "backfill", *symbols, "--to",
                     (day - timedelta(days=1)).isoformat(), "--days", "14", timeout=300)
    for line in back.stdout.strip().splitlines():
        say(f"[3/7] history backfill {line}")

    source = ["--source", "breeze"] if breeze else ["--sim-url", sim_url]
    feed = procs.start("feed", "feed", *source, "--serve", f"127.0.0.1:{hub_port}", "--format", "json")
    hub = f"http://127.0.0.1:{hub_port}"
    _wait("the feed's hub", lambda: _hub_health(hub), 60, feed, procs, "feed")
    say(f"[4/7] feed  hub {hub}/  (open it in a browser to watch)  health {hub}/health")
    procs.start("signals", "signals", "board", *symbols, "--follow", "--interval", opts.interval)
    procs.start("trade", "trade", "start", "--mode", "paper")
    say(f"[5/7] signals --follow ({opts.interval}) and trade start --mode paper are following the hub")
    _progress(feed, sim_url, hub, home, symbols, say)
    code = feed.wait(timeout=120)
    procs.running.pop("feed", None)
    if code != 0:
        raise TradesigError(f"feed exited with {code}: {procs.tail('feed', 1)}", f"see {procs.logs / 'feed.log'}")
    procs.stop("signals")
    procs.stop("trade")
    say("[6/7] session over: feed flushed and exited; signals and trade stopped")

    checked = _check_bars(home, day, symbols, opts.data, sim_url)
    for sym, (equal, total) in checked.items():
        say(f"      stored 1m bars equal to the recording, {sym}: {equal}/{total}")
    board = procs.run("board", "signals", "board", symbols[0], "--at", f"{day} 15:30", "--interval",
                      opts.interval, check=False)
    if board.returncode == 0:
        say("")
        say(board.stdout.rstrip())
    report = procs.run("report", "report", "daily", "--date", day.isoformat(), "--mode", "paper")
    say("[7/7] report")
    say("")
    say(report.stdout.rstrip())
    return DemoResult(home, day, synthetic, checked, report.stdout, time.monotonic() - started)


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _browse(url: str) -> None:
    """The scripted browser: follow the login URL and its redirects (sim → login's loopback listener)."""
    import httpx

    with httpx.Client(follow_redirects=True, timeout=30) as client:
        client.get(url)


def _progress(feed: subprocess.Popen, sim_url: str, hub: str, home: Path, symbols: list[str],
              say: Callable[[str], None]) -> None:
    """One line per 30 simulated minutes until the feed exits: market time, phase, ticks, the index's last stored
    1m close (what the feed stored — not a /quote call, which would take the paper engine's 1 request/s), and
    the day's signals and baskets."""
    from tradesig.store.datasets import Store

    store = Store(home)
    last_slot = None
    while feed.poll() is None:
        try:
            state = sim_state(sim_url, timeout=2.0)
            health = _hub_health(hub)
        except Exception:  # noqa: BLE001 - the sim lingers briefly then exits: stop reporting
            time.sleep(0.5)
            continue
        now = state.get("sim_time", "")[11:16]
        slot = now[:3] + ("00" if now[3:5] < "30" else "30") if now else None
        if slot and slot != last_slot:
            last_slot = slot
            prices = "  ".join(f"{s} {c:,.2f}" for s in symbols if (c := _last_close(store, s, state)) is not None)
            kinds = _event_counts(home, state.get("date", ""))
            say(f"      {now} IST  {health.get('phase', '?'):<9} {prices}  ticks {health.get('ticks', 0):>8,}  "
                f"signals {kinds.get('signal', 0)}  baskets {kinds.get('basket_opened', 0)}")
        time.sleep(0.25)


def _last_close(store: Any, symbol: str, state: dict[str, Any]) -> float | None:
    """The close of the last 1m bar the feed stored for ``symbol`` on the replayed day (None before the first)."""
    try:
        day = date.fromisoformat(state.get("date", ""))
        bars = store.read_bars(symbol, "1m", day, day)
    except (ValueError, TradesigError):
        return None
    return None if bars.is_empty() else float(bars.get_column("close")[-1])


def _event_counts(home: Path, day: str) -> dict[str, int]:
    """How many events of each kind the day's events log holds so far (signals, baskets opened, …)."""
    counts: dict[str, int] = {}
    path = home / "events" / f"{day}.jsonl"
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                kind = json.loads(line).get("kind", "")
            except ValueError:
                continue  # a line being written right now
            counts[kind] = counts.get(kind, 0) + 1
    return counts
