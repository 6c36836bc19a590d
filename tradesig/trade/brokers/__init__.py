"""Broker implementations behind :class:`tradesig.trade.broker.Broker`: live (Kite through kiteconnect), paper
(fills against live quotes) and backtest (fills against historical/modelled premiums). Import the module you
need; this package imports none of them (kiteconnect is heavy)."""
