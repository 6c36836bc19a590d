"""Docs that are generated from code stay in step with it."""

from pathlib import Path

from tradesig.config import schema_reference

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_configuration_reference_lists_every_key():
    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    missing = [key for key, *_ in schema_reference() if f"`{key}`" not in text]
    assert not missing, f"docs/configuration.md lacks {missing}; regenerate it from the schema"
