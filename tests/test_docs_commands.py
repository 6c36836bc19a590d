"""Every ``tradesig …`` command line shown in the docs exists and is accepted by the CLI.

The command lines come from the fenced code blocks of docs/*.md and README.md. Each one is checked against the
real command tree (``typer.main.get_command(tradesig.cli.main.app)``), without running it:

* the subcommand path exists (``tradesig trade start`` …; a group's default command such as ``tradesig signals
  NIFTY`` is resolved by the group itself);
* every option is one the command declares, gets a value when it takes one, and a value from the option's choices
  when it has choices (``--format json``); synopsis alternatives (``--format table|json``) are checked one by one;
* no more positional arguments than the command takes, and the required options and arguments are present (a
  line with ``--help`` is exempt).

What counts as a command line (so that shell around it and output beside it are not misread):

* the executable is ``tradesig`` in command position (after ``sudo [-u USER]``, ``env``, ``VAR=value`` …; not an
  argument such as ``useradd … tradesig``), or any path ending in ``bin/tradesig`` (``/opt/tradesig/venv/bin/
  tradesig``, ``ExecStart=…/bin/tradesig``);
* pipes, ``&&``, ``||`` and ``;`` separate commands; ``# comments`` and redirections are dropped; a trailing
  backslash continues the line;
* in a block where some lines start with ``$ ``, only those lines are commands (the others are output);
* blocks tagged ``python``, ``json``, ``toml``, ``text`` or ``html`` are not shell and are not read;
* synopsis notation is understood: ``[optional]``, ``a|b`` alternatives, ``FILE...``; UPPERCASE words and
  ``<placeholders>`` stand for values;
* a block that cannot be checked is skipped only when the line before its opening fence is
  ``<!-- docs-check: skip REASON -->`` with a reason.
"""

from __future__ import annotations

import enum
import re
import shlex
import types
import typing
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer

from tradesig.cli.main import app, hoist_global_options

REPO = Path(__file__).resolve().parents[1]
DOC_FILES = sorted((REPO / "docs").glob("*.md")) + [REPO / "README.md"]

# typer 0.29 vendors click: its UsageError is the base of the public typer.BadParameter.
UsageError = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")

NOT_SHELL = {"python", "py", "pycon", "json", "jsonc", "toml", "text", "html", "xml", "sql", "diff"}
SEPARATORS = {"|", "||", "&&", ";", "&"}
PREFIX_WORDS = {"env", "exec", "nohup", "time", "command", "!", "if", "then", "else", "do", "while", "until", "{"}
SUDO_VALUE_OPTIONS = {"-u", "-g", "-C", "-D", "-p", "-r", "-t", "-U", "-h"}
SKIP_MARK = re.compile(r"^<!--\s*docs-check:\s*skip\b(.*?)-->\s*$")
MENTION = re.compile(r"(^|[\s=/(])tradesig(\s|$)")


@dataclass(frozen=True)
class DocCommand:
    """One command line found in a doc: where it is, the shell text, and the words after the executable."""

    where: str
    text: str
    args: tuple[str, ...]


def _blocks(text: str):
    """(line number of the first content line, language, lines, skip reason or None) per fenced block."""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        fence = re.match(r"^\s*(```+|~~~+)\s*([\w+-]*)", lines[i])
        if not fence:
            i += 1
            continue
        marker, lang = fence.group(1), fence.group(2).lower()
        prev = lines[i - 1].strip() if i else ""
        skip = SKIP_MARK.match(prev)
        j = i + 1
        while j < len(lines) and not lines[j].strip().startswith(marker[:3]):
            j += 1
        yield i + 2, lang, lines[i + 1:j], (skip.group(1).strip() if skip else None)
        i = j + 1


def _logical_lines(first: int, lines: list[str]):
    """Join backslash continuations; honour the ``$ `` prompt convention. Yields (line number, text)."""
    prompted = any(line.lstrip().startswith("$ ") for line in lines)
    i = 0
    while i < len(lines):
        number, line = first + i, lines[i]
        while line.rstrip().endswith("\\") and i + 1 < len(lines):
            i += 1
            line = line.rstrip()[:-1] + " " + lines[i].strip()
        i += 1
        stripped = line.lstrip()
        if prompted:
            if not stripped.startswith("$ "):
                continue
            stripped = stripped[2:]
        yield number, stripped


def _is_executable(word: str) -> bool:
    return word == "tradesig" or word.endswith("bin/tradesig")


def _segment_args(words: list[str]) -> list[str] | None:
    """The words after the tradesig executable in one shell segment, or None when it runs no tradesig."""
    i = 0
    while i < len(words):  # command position: skip assignments and prefix words
        word = words[i]
        if word.startswith("$("):
            word = words[i] = word[2:]
        if word in PREFIX_WORDS or re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", word) and not _is_executable(word):
            i += 1
        elif word == "sudo":
            i += 1
            while i < len(words) and words[i].startswith("-"):
                i += 2 if words[i] in SUDO_VALUE_OPTIONS else 1
        else:
            break
    start = None
    for k in range(i, len(words)):
        word = words[k].split("=", 1)[1] if re.match(r"^[A-Za-z]+=", words[k]) else words[k]
        if (k == i and word == "tradesig") or word.endswith("bin/tradesig"):
            start = k + 1
            break
    if start is None:
        return None
    args: list[str] = []
    rest = iter(words[start:])
    for word in rest:
        if re.match(r"^\d*(>>?|<|&>)(&\d+)?$", word):  # redirection: drop it and its target
            if not re.search(r"&\d+$", word):
                next(rest, None)
            continue
        if re.match(r"^\d*(>>?|<|&>)\S", word):  # redirection glued to its target
            continue
        args.append(word)
    if words[i].startswith("$(") or (args and args[-1].endswith(")") and "$(" in " ".join(words)):
        args[-1] = args[-1].rstrip(")")
    return args


def extract_commands(text: str, where: str) -> list[DocCommand]:
    """Every tradesig command line in the fenced code blocks of one Markdown text."""
    found = []
    for first, lang, lines, skip in _blocks(text):
        if lang in NOT_SHELL or skip is not None:
            continue
        for number, line in _logical_lines(first, lines):
            if not MENTION.search(line):
                continue
            try:
                words = shlex.split(line, comments=True)
            except ValueError as exc:
                found.append(DocCommand(f"{where}:{number}", line, ("<unparsable>", str(exc))))
                continue
            segment: list[str] = []
            depth = 0
            for word in [*words, ";"]:
                depth += word.count("[") - word.count("]")
                if depth <= 0 and (word in SEPARATORS or (word.endswith(";") and len(word) > 1)):
                    if word.endswith(";") and len(word) > 1:
                        segment.append(word[:-1])
                    args = _segment_args(segment)
                    if args is not None:
                        found.append(DocCommand(f"{where}:{number}", line, tuple(args)))
                    segment, depth = [], 0
                else:
                    segment.append(word)
    return found


def all_doc_commands() -> list[DocCommand]:
    commands = []
    for path in DOC_FILES:
        if path.exists():
            commands += extract_commands(path.read_text(encoding="utf-8"), str(path.relative_to(REPO)))
    return commands


# --- checking one command line against the CLI ----------------------------------------------------------------


def _is_placeholder(word: str) -> bool:
    return (any(mark in word for mark in ("<", "…", "...", "$"))
            or (not re.search(r"[a-z]", word) and re.search(r"[A-Z]", word) is not None))


def _clean(word: str) -> str:
    """Drop synopsis brackets around a word: ``[--open]`` -> ``--open``, ``[SYMBOL...]`` -> ``SYMBOL...``."""
    return word.lstrip("[").rstrip("]") if word not in ("[", "]") else ""


def _options(command) -> dict[str, object]:
    names: dict[str, object] = {}
    for param in command.params:
        if getattr(param, "param_type_name", "") == "option":
            for name in [*param.opts, *param.secondary_opts]:
                names[name] = param
    return names


def _choices(param) -> list[str] | None:
    """The accepted values of an Enum / Literal typed parameter (typer builds its choices from the annotation)."""
    descriptor = getattr(param, "type_descriptor", None)
    restricted = getattr(getattr(getattr(descriptor, "parameter_info", None), "parser", None), "choices", None)
    if restricted:  # a parser that accepts a subset (the CLI's --format options)
        return [str(c) for c in restricted]
    annotation = getattr(descriptor, "annotation", None)
    if typing.get_origin(annotation) in (list, tuple, typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(annotation) if a is not type(None) and a is not Ellipsis]
        annotation = inner[0] if len(inner) == 1 else annotation
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return [str(member.value) for member in annotation]
    if typing.get_origin(annotation) is typing.Literal:
        return [str(value) for value in typing.get_args(annotation)]
    choices = getattr(getattr(param, "type", None), "choices", None)
    return [str(getattr(c, "value", c)) for c in choices] if choices else None


def _check_choice(param, value: str, label: str) -> list[str]:
    choices = _choices(param)
    if not choices:
        return []
    return [f"{label}: {alt!r} is not one of {choices}"
            for alt in value.split("|") if alt and not _is_placeholder(alt) and alt not in choices]


@dataclass
class _Scan:
    problems: list[str]
    positionals: list[str]
    seen: set[int]
    wants_help: bool
    rest: list[str]


def _scan(command, path: str, words: list[str], help_names: list[str], *, group: bool) -> _Scan:
    """Check the options in WORDS against COMMAND's; a group stops at its first positional (the subcommand)."""
    scan = _Scan([], [], set(), False, [])
    options = _options(command)
    i = 0
    while i < len(words):
        word = words[i]
        i += 1
        if word in ("|", "...", "…"):
            continue
        if word == "--":
            scan.positionals += [w for w in words[i:] if w not in ("|", "...", "…")]
            break
        if not word.startswith("-") or word == "-" or re.match(r"^-\d", word):
            if group:
                scan.rest = words[i - 1:]
                break
            scan.positionals.append(word)
            continue
        name, eq, inline = word.partition("=")
        if name in help_names:
            scan.wants_help = True
            continue
        param = options.get(name)
        if param is None and re.match(r"^-[A-Za-z]{2,}$", name) and not eq:
            letters = [options.get(f"-{c}") for c in name[1:]]
            if all(p is not None and (p.is_flag or p.count) for p in letters):
                scan.seen.update(id(p) for p in letters)
                continue
        if param is None:
            scan.problems.append(f"`{path}` has no option {name} (it has: {', '.join(sorted(options)) or 'none'})")
            continue
        scan.seen.add(id(param))
        if param.is_flag or param.count:
            if eq:
                scan.problems.append(f"`{path} {name}` is a flag and takes no value")
            scan.wants_help = scan.wants_help or bool(param.is_eager)  # --version: answers and exits
            continue
        values = [inline] if eq else []
        while len(values) < max(param.nargs, 1):
            if i >= len(words) or words[i] == "|":
                scan.problems.append(f"`{path} {name}` needs a value")
                break
            values.append(words[i])
            i += 1
        for value in values:
            scan.problems += _check_choice(param, value, f"`{path} {name}`")
    return scan


def _check_leaf(command, path: str, words: list[str], help_names: list[str]) -> list[str]:
    scan = _scan(command, path, words, help_names, group=False)
    problems, positionals = scan.problems, scan.positionals
    arguments = [p for p in command.params if getattr(p, "param_type_name", "") == "argument"]
    capacity = None if any(p.nargs == -1 for p in arguments) else sum(p.nargs for p in arguments)
    if capacity is not None and len(positionals) > capacity:
        problems.append(f"`{path}` takes {capacity} argument(s), the doc gives {positionals}")
    if len(arguments) == 1:
        for value in positionals:
            problems += _check_choice(arguments[0], value, f"`{path}` argument")
    if not scan.wants_help:
        for param in command.params:
            if param.required and getattr(param, "param_type_name", "") == "option" and id(param) not in scan.seen:
                problems.append(f"`{path}` requires {param.opts[-1]}")
        required_args = sum(max(p.nargs, 1) for p in arguments if p.required)
        if len(positionals) < required_args:
            problems.append(f"`{path}` requires {required_args} argument(s), the doc gives {positionals}")
    return problems


def check_command(args: list[str] | tuple[str, ...]) -> list[str]:
    """Problems with ``tradesig ARGS`` as the CLI would parse it (an empty list when it is accepted)."""
    root = typer.main.get_command(app)
    words = [w for w in map(_clean, args) if w and w not in ("...", "…")]
    words = hoist_global_options(words)  # global options after the subcommand, as the CLI accepts them
    return _check(root, "tradesig", words, None)


def _check(command, path: str, words: list[str], parent) -> list[str]:
    ctx = typer.Context(command, info_name=path.split()[-1], parent=parent, resilient_parsing=True)
    if not hasattr(command, "list_commands"):
        return _check_leaf(command, path, words, ctx.help_option_names)
    scan = _scan(command, path, words, ctx.help_option_names, group=True)
    if scan.problems or scan.wants_help:
        return scan.problems
    rest = scan.rest
    if rest and "|" in rest[0]:  # synopsis alternatives of subcommands: check each
        return [p for alt in rest[0].split("|") for p in _check(command, path, [alt, *rest[1:]], parent)]
    if rest and command.get_command(ctx, rest[0]) is None:
        # let the group itself decide: a group with a default command rewrites its arguments (signals -> board)
        try:
            command.parse_args(ctx, list(rest))
        except UsageError as exc:
            return [f"`{path}`: {exc.format_message()}"]
        rewritten = [*getattr(ctx, "_protected_args", []), *ctx.args]
        if rewritten and command.get_command(ctx, rewritten[0]) is not None:
            rest = rewritten
    if not rest:
        return [f"`{path}` needs a subcommand"]
    name, sub = rest[0], command.get_command(ctx, rest[0])
    if sub is None:
        return [f"`{path}` has no subcommand {name!r} (it has: {', '.join(command.list_commands(ctx))})"]
    return _check(sub, f"{path} {name}", rest[1:], ctx)


def leaf_paths() -> list[str]:
    """Every runnable command path of the CLI, e.g. 'trade start', 'token-check'."""
    root = typer.main.get_command(app)
    paths = []

    def walk(command, path, parent):
        if not hasattr(command, "list_commands"):
            paths.append(path)
            return
        ctx = typer.Context(command, info_name=path or "tradesig", parent=parent, resilient_parsing=True)
        for name in command.list_commands(ctx):
            walk(command.get_command(ctx, name), f"{path} {name}".strip(), ctx)

    walk(root, "", None)
    return paths


DOC_COMMANDS = all_doc_commands()


@pytest.mark.parametrize("doc_command", DOC_COMMANDS, ids=[c.where for c in DOC_COMMANDS])
def test_documented_command_is_accepted(doc_command: DocCommand):
    assert doc_command.args[:1] != ("<unparsable>",), f"{doc_command.where}: cannot split {doc_command.text!r}: " \
                                                       f"{doc_command.args[1:]}"
    problems = check_command(doc_command.args)
    assert not problems, f"{doc_command.where}: {doc_command.text}\n  " + "\n  ".join(problems)


def test_docs_show_many_commands():
    # The extractor reads the blocks at all: the docs hold well over a hundred command lines.
    assert len(DOC_COMMANDS) > 100, len(DOC_COMMANDS)


def _without_root_options(args: tuple[str, ...]) -> tuple[str, ...]:
    words = list(args)
    while words and words[0].startswith("-"):
        words = words[2:] if words[0] in ("--home", "--config") else words[1:]
    return tuple(words)


def test_commands_md_has_an_example_for_every_command():
    text = (REPO / "docs" / "commands.md").read_text(encoding="utf-8")
    shown = [_without_root_options(c.args) for c in extract_commands(text, "docs/commands.md")]
    missing = [path for path in leaf_paths()
               if not any(args[:len(path.split())] == tuple(path.split()) for args in shown)]
    assert not missing, f"docs/commands.md has no example of: {missing}"


LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def test_docs_index_links_every_doc():
    index = (REPO / "docs" / "README.md").read_text(encoding="utf-8")
    linked = {target.split("#")[0] for target in LINK.findall(index)}
    missing = sorted(p.name for p in (REPO / "docs").glob("*.md") if p.name != "README.md" and p.name not in linked)
    assert not missing, f"docs/README.md does not link {missing}"


def test_relative_links_resolve():
    broken = []
    for path in DOC_FILES:
        for target in LINK.findall(path.read_text(encoding="utf-8")):
            if re.match(r"^[a-z]+:", target) or target.startswith("#"):
                continue
            if not (path.parent / target.split("#")[0]).exists():
                broken.append(f"{path.relative_to(REPO)} -> {target}")
    assert not broken, broken


# --- the checker itself can fail ------------------------------------------------------------------------------


@pytest.mark.parametrize(("line", "expected"), [
    ("tradesig calendar status --nope", "has no option --nope"),
    ("tradesig calender status", "has no subcommand 'calender'"),
    ("tradesig calendar status --format xml", "'xml' is not one of"),
    ("tradesig calendar status --format", "needs a value"),
    ("tradesig trade start --mode paper extra", "takes 0 argument(s)"),
    ("tradesig trade start --until 15:30", "requires --mode"),
    ("tradesig backup restore --to /tmp/x", "requires 1 argument(s)"),
    ("tradesig report yearly", "'yearly' is not one of"),
    ("tradesig --homedir /tmp/x config show", "`tradesig` has no option --homedir"),
    ("tradesig token-check --format text|yaml", "'yaml' is not one of"),
    ("tradesig signals NIFTY --date 2024-06-04 --follw", "has no option --follw"),
    ("tradesig config init|show|explode", "has no subcommand 'explode'"),
])
def test_invented_commands_and_options_are_caught(line: str, expected: str):
    commands = extract_commands(f"```sh\n{line}\n```\n", "example.md")
    assert len(commands) == 1
    problems = check_command(commands[0].args)
    assert any(expected in p for p in problems), problems


@pytest.mark.parametrize("line", [
    "tradesig calendar status --format json",
    "tradesig --home /tmp/x -vv config show --format json",
    "tradesig signals NIFTY --date 2024-06-04 --interval 1h",
    "tradesig signals board NIFTY BANKNIFTY -i 15m",
    "tradesig report [daily|weekly|monthly] [--date D] [--format text|markdown|html|csv|json|mime]",
    "tradesig login [--broker kite|breeze] [--open] [--request-token TOKEN | --redirect-url URL]",
    "tradesig history import FILE... [--symbol SYM] [--interval 1m|5m|15m|1h|4h|1d]",
    "tradesig trade start --help",
    "tradesig signals weekly NIFTY --from 2024-06-01 --no-record",
])
def test_real_commands_and_synopses_pass(line: str):
    commands = extract_commands(f"```\n{line}\n```\n", "example.md")
    assert len(commands) == 1
    assert check_command(commands[0].args) == []


def test_extraction_rules():
    doc = """
Prose mentioning tradesig calendar nonsense is not a code block.

```sh
sudo -u tradesig tradesig token-check --offline     # a comment --bogus
useradd --system --home-dir /var/lib/tradesig tradesig
TRADESIG_HOME=/tmp/h /opt/tradesig/venv/bin/tradesig calendar holidays 2026 | head -3
tradesig sim serve --speed 60 \\
    --port 8600
tradesig calendar is-trading-day 2026-11-23 && tradesig feed --until 15:35 >/dev/null 2>&1
```

```ini
ExecStart=/opt/tradesig/venv/bin/tradesig trade start --mode live
```

```console
$ tradesig config check --no-credentials
tradesig 0.1.0 is not a command
```

```python
subprocess.run(["tradesig", "nonsense"])
```

<!-- docs-check: skip shows a template, not a command -->
```sh
tradesig {{command}} --{{option}}
```
"""
    got = [c.args for c in extract_commands(doc, "x.md")]
    assert got == [
        ("token-check", "--offline"),
        ("calendar", "holidays", "2026"),
        ("sim", "serve", "--speed", "60", "--port", "8600"),
        ("calendar", "is-trading-day", "2026-11-23"),
        ("feed", "--until", "15:35"),
        ("trade", "start", "--mode", "live"),
        ("config", "check", "--no-credentials"),
    ]
