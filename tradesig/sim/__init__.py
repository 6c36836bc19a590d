"""``tradesig sim``: a local exchange speaking Kite's REST API and ticker protocol, replaying real recorded bars.

Public API: :class:`SimConfig`, :class:`SimExchange` (``start``/``stop``/``serve``/``run_in_thread``),
:class:`SimHandle`, and the defaults :data:`DEFAULT_API_KEY` / :data:`DEFAULT_API_SECRET`. See docs/sim.md.
"""

from tradesig.sim.exchange import (
    DEFAULT_API_KEY,
    DEFAULT_API_SECRET,
    DEFAULT_REDIRECT_URL,
    SimConfig,
    SimExchange,
    SimHandle,
    parse_fault_spec,
    serve_until_signalled,
)

__all__ = ["SimConfig", "SimExchange", "SimHandle", "DEFAULT_API_KEY", "DEFAULT_API_SECRET", "DEFAULT_REDIRECT_URL",
           "parse_fault_spec", "serve_until_signalled"]
