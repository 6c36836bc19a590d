"""Docs that are generated from code stay in step with it."""

from pathlib import Path

from tradesig.config_render import configuration_markdown, schema_reference

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_configuration_reference_lists_every_key():
    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    missing = [key for key, *_ in schema_reference() if f"`{key}`" not in text]
    assert not missing, f"docs/configuration.md lacks {missing}; regenerate it from the schema"


def test_configuration_reference_is_generated_from_the_schema():
    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    assert text == configuration_markdown(), (
        "docs/configuration.md is stale: run 'python -m tradesig.config_render > docs/configuration.md'")


def test_configuration_reference_prints_each_numeric_keys_check():
    rows = {key: check for key, tp, _, check, _ in schema_reference() if tp in ("integer", "number")}
    unchecked = [key for key, check in rows.items() if not check]
    assert rows and not unchecked, f"numeric settings without a check (add check=between(...)): {unchecked}"
    assert rows["risk.max_orders_per_minute"] == "1 … 400"
