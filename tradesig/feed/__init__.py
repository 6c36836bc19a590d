"""Market-data feed: the Kite ticker codec (sans-I/O), the WebSocket clients, pollers and the viewer hub."""
