"""How the lab's scripts run an experiment: settings as dataclasses read from YAML or flags, one intra-op thread, the
results written atomically.

`settings_from_dict` reads a (YAML) mapping into a dataclass whose fields may be dataclasses themselves, checking
every key and type, and `settings_from_flags` reads the command line's flags (argparse) into one; `run_experiment`
sets the threads, seeds torch when asked, runs the experiment and writes its JSON; `write_json` and `write_text` are
the atomic writers (`leae_hub.hub.write_atomically`: a reader sees the old file or the new one, never a part), so an
interrupted sweep never leaves a half-written result that a resume would take for a finished one; `markdown_table`
lays out the tables they write.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import torch

from ..hardware import intra_op_threads
from ..hub import write_atomically

Settings = TypeVar("Settings")
_SCALARS: dict[str, type] = {"int": int, "float": float, "str": str, "bool": bool}


def settings_from_dict(cls: type[Settings], raw: Mapping[str, Any], where: str = "") -> Settings:
    """A dataclass `cls` from a mapping (a YAML file): a field that is a dataclass reads a nested mapping (missing or
    null: its defaults), a scalar field must hold its type (an int is accepted for a float). An unknown key, a
    missing required field or a value of the wrong type is a `ValueError` naming the field (`where` prefixes the
    names: `train.steps`) and what is valid."""
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where.rstrip('.') or 'the settings'} must be a mapping, got {raw!r}")
    hints = typing.get_type_hints(cls)
    fields = {field.name: field for field in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ValueError(f"unknown keys {unknown} in '{where.rstrip('.') or cls.__name__}'; valid: {sorted(fields)}")
    values = {}
    for name, field in fields.items():
        kind = hints[name]
        if dataclasses.is_dataclass(kind):
            values[name] = settings_from_dict(kind, raw.get(name) or {}, f"{where}{name}.")
        elif name in raw:
            values[name] = _checked(f"{where}{name}", field.type, raw[name])
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise ValueError(f"the settings need '{where}{name}'")
    return cls(**values)


def settings_from_flags(cls: type[Settings], flags: argparse.Namespace) -> Settings:
    """`settings_from_dict` of the parsed flags that name a field of `cls` (their argparse `dest`)."""
    names = {field.name for field in dataclasses.fields(cls)}
    return settings_from_dict(cls, {name: value for name, value in vars(flags).items() if name in names})


def _checked(name: str, type_name: str, value: Any) -> Any:
    """`value` after checking that it has the field's type: `int`, `float` (an int is accepted), `str`, `bool`,
    `tuple[<one of those>, ...]` (from a list) or any of these `| None`."""
    if type_name.endswith(" | None"):
        return None if value is None else _checked(name, type_name.removesuffix(" | None"), value)
    if type_name.startswith("tuple[") and type_name.endswith(", ...]"):
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{name} must be a list, got {value!r}")
        return tuple(_checked(f"{name}[{index}]", type_name[6:-6], item) for index, item in enumerate(value))
    kind = _SCALARS[type_name]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        hint = " (YAML reads 1e-3 as a string: write 1.0e-3)" if kind is float and isinstance(value, str) else ""
        raise ValueError(f"{name} must be of type {type_name}, got {value!r}{hint}")
    return value


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write `text` to `path` atomically, making its folder first."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, text)


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """The lines of a markdown table: the header, its rule, then one line per row of cells (already formatted)."""
    return [_markdown_row(header), _markdown_row(["---"] * len(header)), *(_markdown_row(row) for row in rows)]


def _markdown_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def write_json(path: str | os.PathLike, payload: Any, indent: int = 1) -> None:
    """Write `payload` as JSON (NaN allowed, as the lab's metrics may hold it) to `path` atomically, with a newline."""
    write_text(path, json.dumps(payload, indent=indent) + "\n")


def run_experiment(
    experiment: Callable[[], dict[str, Any]],
    path: str | os.PathLike | None = None,
    seed: int | None = None,
    threads: int = 1,
    indent: int = 1,
) -> dict[str, Any]:
    """Run `experiment` with `threads` intra-op threads (the lab's experiments are many small tensor operations; the
    process's setting is restored afterwards) and the global torch seed set to `seed` (None: left as it is, for
    experiments that seed their own generators), and write its result as JSON to `path` (None: nothing written).
    Returns the result."""
    with intra_op_threads(threads):
        if seed is not None:
            torch.manual_seed(seed)
        result = experiment()
    if path is not None:
        write_json(path, result, indent)
    return result


__all__ = ["run_experiment", "settings_from_dict", "settings_from_flags", "write_json", "write_text"]
