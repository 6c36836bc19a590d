"""Broker plumbing: token storage and expiry (:mod:`.tokens`), the Kite REST client factory and error mapping
(:mod:`.kite`), ICICI Breeze sessions (:mod:`.breeze`) and the login / token-check flows (:mod:`.login`).

This package imports nothing heavy: ``kiteconnect`` is imported by :mod:`.kite` only, ``breeze_connect`` lazily
inside :mod:`.breeze` functions, so ``tradesig.broker.tokens`` stays cheap for the feed's token watcher.
"""
