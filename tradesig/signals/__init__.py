"""Signals: the 13-indicator board and the S1–S8 weekly-zone signals (shared/SIGNALS.md).

Modules: ``indicators`` (pure numpy kernels, TA-Lib where it has the indicator), ``board`` (13 signals +
aggregate), ``zones`` (weekly context), ``strategies`` (S1–S8 engine, SignalEvent, OptionChoice), ``service``
(the batch/live glue the CLI calls: stored bars in, boards and events out). Importing this package imports
nothing heavy; import the submodules you need.
"""
