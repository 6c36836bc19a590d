"""The configuration schema rendered: the default file (``config init``), the effective settings as a plain
mapping (``config show``) and docs/configuration.md, all generated from :mod:`tradesig.config`'s fields.

Regenerate the reference after changing the schema: ``python -m tradesig.config_render > docs/configuration.md``
(tests/test_docs.py fails while it is stale).
"""

from __future__ import annotations

import dataclasses
import os
import typing
from pathlib import Path
from typing import Any

from tradesig.config import ENV, SECRET_PREFIX, Settings, type_name
from tradesig.errors import ConfigError


def _plain(obj: Any, redact_secrets: bool) -> Any:
    if dataclasses.is_dataclass(obj):
        out = {}
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if f.metadata.get("secret") and redact_secrets and not str(value).startswith(SECRET_PREFIX):
                value = "<redacted>"
            out[f.name] = _plain(value, redact_secrets)
        return out
    if isinstance(obj, dict):
        return {k: _plain(v, redact_secrets) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_plain(v, redact_secrets) for v in obj]
    return obj


def settings_to_dict(settings: Settings, redact_secrets: bool = True) -> dict[str, Any]:
    """Plain nested dict of the settings; secret fields keep their ``secret:NAME`` reference (never a value)."""
    return _plain(settings, redact_secrets)


def default_config_toml() -> str:
    """The complete default config file (generated from the schema, so it always validates)."""
    import tomli_w

    header = ("# tradesig configuration: every key with its default. Reference: docs/configuration.md\n"
              "# Secrets are references 'secret:NAME' resolved from env TRADESIG_NAME, $CREDENTIALS_DIRECTORY/NAME\n"
              "# or the 0600 secrets file. Never write a secret value here.\n\n")
    return header + tomli_w.dumps(settings_to_dict(Settings(), redact_secrets=False))


def write_default_config(path: Path, *, force: bool = False) -> Path:
    """Write :func:`default_config_toml` to ``path`` (mode 0600), atomically: a temporary file beside it is
    renamed into place, and removed if anything fails. Raises :class:`ConfigError` (one line) when the file exists
    and ``force`` is false, or when the directory cannot be created or written (under a file, in /proc, …)."""
    if path.exists() and not force:
        raise ConfigError(f"{path} already exists", "use --force to overwrite it")
    if path.is_dir():
        raise ConfigError(f"{path} is a directory", "name a file with --config")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(default_config_toml())
        os.replace(tmp, path)
    except OSError as exc:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        where = exc.filename or path
        raise ConfigError(f"cannot write {path}: {where}: {exc.strerror or exc}",
                          "choose a writable location with --config") from None
    return path


def schema_reference() -> list[tuple[str, str, Any, str, str]]:
    """Rows (key, type, default, check, doc) for every setting, in schema order; ``check`` is the field's
    :class:`~tradesig.config_checks.Check` text ("" when any value of the type is fine)."""
    rows: list[tuple[str, str, Any, str, str]] = []

    def walk(cls: Any, prefix: str, instance: Any) -> None:
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            value = getattr(instance, f.name)
            tp = hints[f.name]
            if dataclasses.is_dataclass(tp):
                walk(tp, f"{prefix}{f.name}.", value)
            elif typing.get_origin(tp) is dict:
                for key, item in value.items():
                    walk(type(item), f"{prefix}{f.name}.{key}.", item)
            else:
                check = f.metadata.get("check")
                rows.append((f"{prefix}{f.name}", type_name(tp), value, check.doc if check else "",
                             f.metadata.get("doc", "")))

    walk(Settings, "", Settings())
    return rows


_INTRO = """\
# Configuration reference

Generated from the schema in `tradesig/config.py` by `python -m tradesig.config_render` (the same schema validates
the file and writes `tradesig config init`). Location: `--config PATH`, else `$TRADESIG_CONFIG`, else
`$XDG_CONFIG_HOME/tradesig/config.toml`.

`tradesig config check` loads the file, overlays the environment overrides below, then validates everything in
one pass: unknown keys, types, each key's check (the "check" column: ranges, signs, ports, times, URLs) and the
few rules that relate two keys (session phases in order, the profit-lock floor below its arm). It prints one
problem per line and exits 2 if there is any. Other commands refuse an invalid configuration the same way
(exit 2, each problem on its own line).

## Secrets

Secret fields hold a reference `secret:NAME`, never a value. `NAME` is resolved from, in order:
1. the environment variable `TRADESIG_<NAME>` (upper-cased), e.g. `TRADESIG_KITE_API_SECRET`;
2. `$CREDENTIALS_DIRECTORY/NAME` (systemd `LoadCredential=NAME:/etc/tradesig/NAME`);
3. key `NAME` of the secrets file (`secrets.file`, default `<config dir>/secrets.toml`), which must be mode 0600:
   a file readable by group or others is refused, as ssh refuses such a key.

## Environment overrides

`TRADESIG_HOME` (data home) and `TRADESIG_CONFIG` (config file) choose paths. These replace a key of the file
before validation, so a bad value is reported like one in the file (naming the variable):

"""


def _cell(value: Any) -> str:
    import json

    return json.dumps(value, ensure_ascii=False).replace("|", "\\|")


def configuration_markdown() -> str:
    """The whole of docs/configuration.md, generated from the schema (keys, types, defaults, checks, meaning)."""
    lines = [_INTRO.rstrip("\n"), ""]
    lines += [f"- `{name}` → `{section}.{key}`" for name, (section, key) in ENV.items()]
    lines += ["", "## Keys", "", "| key | type | default | check | meaning |", "|---|---|---|---|---|"]
    for key, tp, default, check, doc in schema_reference():
        lines.append(f"| `{key}` | {tp} | `{_cell(default)}` | {check or '-'} | {doc.replace('|', chr(92) + '|')} |")
    return "\n".join(lines) + "\n"


__all__ = ["settings_to_dict", "default_config_toml", "write_default_config", "schema_reference",
           "configuration_markdown"]


if __name__ == "__main__":
    print(configuration_markdown(), end="")
