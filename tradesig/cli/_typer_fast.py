"""Option values without pydantic: typer (0.2x) coerces every parameter value through a pydantic ``TypeAdapter``,
and importing pydantic to build them costs about 0.15–0.2 CPU-seconds of every ``tradesig`` command.

:func:`install` gives the parameter kinds tradesig's commands use a coercion that gives the same value, or raises
the same error, without pydantic: a ``parser=`` (our dates, times, ``--format``), ``str``, ``int``/``float`` (with
``min``/``max``), an ``Enum`` choice, a ``Path``. Whenever the short path cannot take a value as it is — a parser or
choice rejecting it, a number out of range, any other annotation — the value goes to typer's own coercion, which
builds its pydantic adapter then, so typer's error messages are kept word for word. When typer's internals are not
the ones this was written against (an older or newer typer), nothing is changed. tests/cli/test_typer_fast.py
compares both paths value by value.
"""

from __future__ import annotations

import re
from enum import Enum
from pathlib import Path
from typing import Any, get_origin

_INT = re.compile(r"-?(?:0|[1-9][0-9]{0,17})")


class _Unhandled(Exception):
    """The short path cannot take this value as it is: typer's own coercion decides."""


def _number(value: Any, annotation: type, info: Any) -> Any:
    if info.clamp:
        raise _Unhandled
    if type(value) is annotation:
        number = value
    elif annotation is int and type(value) is str and _INT.fullmatch(value):
        number = int(value)
    else:
        raise _Unhandled
    if (info.min is not None and number < info.min) or (info.max is not None and number > info.max):
        raise _Unhandled
    return number


def _coerce(descriptor: Any, value: Any, param: Any, ctx: Any) -> Any:
    """The value typer's adapter would return for ``value``; raises _Unhandled where that is not certain."""
    from typer import _param_types as types

    annotation, info = descriptor.annotation, descriptor.parameter_info
    try:
        if info.parser is not None:
            return info.parser(value)
        if annotation is str:
            if type(value) is not str:
                raise _Unhandled
            return value
        if annotation in (int, float):
            return _number(value, annotation, info)
        if types.lenient_issubclass(annotation, Enum):
            return types.coerce_cli_choice(value, choices=list(annotation), case_sensitive=info.case_sensitive,
                                           ctx=ctx)
        if types.lenient_issubclass(annotation, Path) and types.routes_to_path(annotation, info):
            return types.coerce_cli_path(value, info, path_type=info.path_type or annotation, param=param, ctx=ctx)
    except (ValueError, AssertionError, TypeError):
        raise _Unhandled from None  # typer wraps these in its own message: let it
    raise _Unhandled


def install() -> bool:
    """Route typer's parameter coercion through the short path (idempotent). Returns False, changing nothing,
    when typer does not have the internals this relies on."""
    try:
        from typer import _coercion, core
        from typer import _param_types as types
    except ImportError:
        return False
    cls = getattr(core, "_TyperParameter", None)
    needed = (getattr(_coercion, "RuntimeParam", None), getattr(_coercion, "build_runtime_param", None),
              getattr(types, "coerce_cli_choice", None), getattr(types, "coerce_cli_path", None),
              getattr(types, "routes_to_path", None), getattr(types, "lenient_issubclass", None))
    if cls is None or not hasattr(cls, "get_runtime_param") or any(n is None for n in needed):
        return False
    if getattr(cls, "_tradesig_short_path", False):
        return True

    class ShortPath(_coercion.RuntimeParam):  # type: ignore[misc, name-defined]
        # typer's RuntimeParam is a frozen dataclass: coerce() (None and multi-value handling) is inherited
        def __init__(self, descriptor: Any) -> None:
            for name, value in (("descriptor", descriptor), ("annotation", descriptor.annotation),
                                ("parameter_info", descriptor.parameter_info), ("_typer", None)):
                object.__setattr__(self, name, value)

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            try:
                return _coerce(self.descriptor, value, param, ctx)
            except _Unhandled:
                if self._typer is None:
                    object.__setattr__(self, "_typer", _coercion.build_runtime_param(self.descriptor))
                return self._typer._coerce_value(value, param=param, ctx=ctx)

    def get_runtime_param(self: Any) -> Any:
        if self._runtime_param is None:
            descriptor = self.type_descriptor
            short = descriptor.file_annotation is None and get_origin(descriptor.annotation) is None
            self._runtime_param = ShortPath(descriptor) if short else _coercion.build_runtime_param(descriptor)
        return self._runtime_param

    cls.get_runtime_param = get_runtime_param
    cls._tradesig_short_path = True
    return True


__all__ = ["install"]
