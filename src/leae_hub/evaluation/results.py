"""The format of an evaluation's result: every metric a finite number or absent, with the reason it is absent under
``"unavailable"`` (`Unavailable`, `split_unavailable`, `metric`), and `jsonable` for strict JSON."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from torch import Tensor


@dataclass(frozen=True)
class Unavailable:
    """A metric that could not be computed, with the reason; `split_unavailable` moves it out of a result."""

    reason: str

    def __str__(self) -> str:
        return f"unavailable: {self.reason}"


def split_unavailable(result: dict[str, Any]) -> dict[str, Any]:
    """`result` without its `Unavailable` values and non-finite numbers, their reasons under `"unavailable"`.

    The reasons are keyed by the dotted path of the value (`"representation.knn_top1.20"`); a result that lacks
    nothing has no `"unavailable"` key.
    """
    reasons: dict[str, str] = {}

    def walk(value: dict[str, Any], prefix: str) -> dict[str, Any]:
        kept = {}
        for key, item in value.items():
            path = f"{prefix}{key}"
            if isinstance(item, Tensor) and item.numel() == 1:
                item = item.item()
            if isinstance(item, Unavailable):
                reasons[path] = item.reason
            elif isinstance(item, float) and not math.isfinite(item):
                reasons[path] = f"{item} is not a finite number"
            elif isinstance(item, dict):
                kept[key] = walk(item, f"{path}.")
            else:
                kept[key] = item
        return kept

    kept = walk(result, "")
    return {**kept, "unavailable": reasons} if reasons else kept


def metric(result: dict[str, Any], path: str | Sequence[str]) -> Any:
    """The value at `path` (dotted, or a sequence of keys) of a `split_unavailable` result: a number or section,
    `Unavailable(reason)` when the result says why it is missing, or None when it has neither."""
    keys = path.split(".") if isinstance(path, str) else list(path)
    value: Any = result
    for key in keys:
        if not isinstance(value, dict) or key not in value:
            reason = (result.get("unavailable") or {}).get(".".join(keys))
            return Unavailable(reason) if reason is not None else None
        value = value[key]
    return value


def jsonable(value: Any) -> Any:
    """A copy of `value` that `json.dumps(..., allow_nan=False)` accepts: tensors and numpy scalars become Python
    numbers, tuples become lists, keys become strings, and +inf / -inf / NaN become "inf" / "-inf" / "nan"."""
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    if isinstance(value, Tensor):
        return jsonable(value.item() if value.numel() == 1 else value.tolist())
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value
