"""Command-line flags derived from a config dataclass: one flag per field, its help from the field's metadata.

Like improved-diffusion's ``add_dict_to_argparser`` (flags from the defaults), with EDM's habit of a help string
on every option. A field ``lr: float = option(2e-3, "peak learning rate")`` becomes ``--lr FLOAT``; booleans get
``--name / --no-name``; ``X | None`` fields take ``none``; tuples of ints take ``32,64,96``; a nested config
dataclass contributes its own fields (``--channels``, ``--attention`` …) without a prefix. A flag not typed leaves
no attribute in the namespace (argparse.SUPPRESS), so only what the user typed overrides the preset, ``none``
included.
"""
from __future__ import annotations

import argparse
import dataclasses
import typing
from typing import Any

__all__ = ["option", "add_config_flags", "config_overrides"]


def option(default: Any = dataclasses.MISSING, help: str = "", *, default_factory: Any = dataclasses.MISSING,
           aliases: tuple[str, ...] = ()) -> Any:
    """A dataclass field with a help string (and extra flag spellings) for :func:`add_config_flags`."""
    meta = {"help": help, "aliases": tuple(aliases)}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _none_or(cast):
    def parse(raw: str):
        return None if raw.strip().lower() in ("none", "off") else cast(raw)
    parse.__name__ = getattr(cast, "__name__", "value")
    return parse


def _int_tuple(raw: str) -> tuple[int, ...]:
    try:
        return tuple(int(c) for c in raw.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {raw!r}") from None


def _parser_for(hint) -> tuple[Any, str]:
    """(argparse type, metavar) for a field's type hint; bool is handled by the caller."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    optional = type(None) in typing.get_args(hint)
    base = args[0] if optional and len(args) == 1 else hint
    if typing.get_origin(base) is tuple:
        cast, metavar = _int_tuple, "N,N,…"
    elif base in (int, float, str):
        cast, metavar = base, base.__name__.upper()
    else:
        raise TypeError(f"no command-line form for a field of type {hint!r}")
    return (_none_or(cast), metavar + "|none") if optional else (cast, metavar)


def add_config_flags(parser: argparse.ArgumentParser, cls: type, *, skip: tuple[str, ...] = ()) -> None:
    """Add one flag per field of the dataclass ``cls`` (and of nested config dataclasses) to ``parser``."""
    hints = typing.get_type_hints(cls)
    group = parser.add_argument_group(f"{cls.__name__} (defaults: the preset's)")
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        hint = hints[f.name]
        if dataclasses.is_dataclass(hint):
            add_config_flags(parser, hint, skip=skip)
            continue
        names = [_flag(f.name), *f.metadata.get("aliases", ())]
        helptext = f.metadata.get("help", "") or f.name.replace("_", " ")
        if hint is bool:
            group.add_argument(*names, dest=f.name, action=argparse.BooleanOptionalAction,
                               default=argparse.SUPPRESS, help=helptext)
        else:
            cast, metavar = _parser_for(hint)
            group.add_argument(*names, dest=f.name, type=cast, metavar=metavar, default=argparse.SUPPRESS,
                               help=helptext)


def config_overrides(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    """The fields of ``cls`` the user gave on the command line; nested configs as {field: {sub-field: value}}."""
    hints = typing.get_type_hints(cls)
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(hints[f.name]):
            sub = config_overrides(args, hints[f.name])
            if sub:
                out[f.name] = sub
        elif hasattr(args, f.name):
            out[f.name] = getattr(args, f.name)
    return out
