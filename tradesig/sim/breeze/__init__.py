"""The sim's ICICI Breeze side (REST + socket.io streams) over the same replay as its Kite side.

:mod:`.wire` (stream and security-master formats, pure), :mod:`.auth` (sessions, signed calls), :mod:`.api`
(REST answers from the market state), :mod:`.server` (:class:`~.server.BreezeSide`: aiohttp + python-socketio).
"""
