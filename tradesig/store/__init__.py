"""The data home: Parquet datasets (bars, ticks), the raw-frame journal, the event log and DuckDB views.

Layout and concurrency rules: docs/data-layout.md. Submodules are imported lazily by their users
(``from tradesig.store.datasets import Store``) so that importing :mod:`tradesig.store` stays cheap.
"""

from __future__ import annotations

__all__ = ["bars", "datasets", "journal", "events", "db"]
