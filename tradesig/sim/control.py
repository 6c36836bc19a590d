"""Client side of the sim's control endpoint (``tradesig sim fault`` / ``tradesig sim state``)."""

from __future__ import annotations

from typing import Any

from tradesig.errors import BrokerError


def _call(method: str, url: str, json_body: Any = None) -> Any:
    import httpx

    try:
        r = httpx.request(method, url, json=json_body, timeout=10.0)
        body = r.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise BrokerError(f"no sim answering at {url}: {exc}", "start one with 'tradesig sim serve'") from None
    if body.get("status") != "success":
        raise BrokerError(f"sim refused: {body.get('message')}")
    return body["data"]


def post_fault(root: str, spec: str) -> dict[str, Any]:
    """POST a ``KIND[,key=value]`` fault to the sim at REST root ``root``; returns its active faults.

    Raises :class:`DataError` for a malformed spec, :class:`BrokerError` when no sim answers or it refuses."""
    from tradesig.sim.exchange import parse_fault_spec

    return _call("POST", root.rstrip("/") + "/_sim/fault", parse_fault_spec(spec))


def get_state(root: str) -> dict[str, Any]:
    """The running sim's ``GET /_sim/state``. Raises :class:`BrokerError` when no sim answers."""
    from tradesig.feed.follow import sim_state

    return sim_state(root, timeout=10.0)
