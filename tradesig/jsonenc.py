"""The one JSON encoder of tradesig's own documents (CLI output, events log, viewer hub).

``json.dumps(obj, default=json_default)`` writes a datetime as ISO 8601 with the offset it carries (the engine,
feed and events log hold UTC; ``utc=True`` converts aware times to UTC first), a date or time as ISO 8601, an Enum
as its value, a numpy scalar as the Python number, a dataclass as an object. Kite's wire format (IST
``YYYY-MM-DD HH:MM:SS`` order timestamps) has its own encoder beside the codec (tradesig.feed.kite_protocol).
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from enum import Enum
from typing import Any


def json_default(obj: Any, *, utc: bool = False) -> Any:
    """The JSON value of ``obj`` for ``json.dumps(default=...)``; raises TypeError for other types."""
    if isinstance(obj, datetime):
        return obj.astimezone(UTC).isoformat() if utc and obj.tzinfo else obj.isoformat()
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    if isinstance(obj, Enum):
        return obj.value
    if hasattr(obj, "item") and hasattr(obj, "dtype"):  # numpy scalars
        return obj.item()
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def json_default_utc(obj: Any) -> Any:
    """:func:`json_default` with aware datetimes converted to UTC (the events log's timestamps)."""
    return json_default(obj, utc=True)
