"""LPIPS and FID: computed only from weights already on disk (nothing is downloaded unasked); where they cannot run,
the reason takes their place (`Unavailable`)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from .results import Unavailable

_FID_WEIGHTS = "weights-inception-2015-12-05-6726825d.pth"  # torch-fidelity's Inception (used by torchmetrics)


def _torch_hub_checkpoints() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def lpips_status() -> str | None:
    """None when LPIPS (AlexNet) can run from local files; otherwise the reason it cannot. Never downloads."""
    spec = importlib.util.find_spec("lpips")
    if spec is None or not spec.submodule_search_locations:
        return "the lpips package is not installed (pip install lpips)"
    linear = Path(next(iter(spec.submodule_search_locations))) / "weights" / "v0.1" / "alex.pth"
    if not linear.is_file():
        return f"the LPIPS linear-layer weights are missing ({linear})"
    checkpoints = _torch_hub_checkpoints()
    if not any(checkpoints.glob("alexnet-owt-*.pth")):
        return (
            f"the torchvision AlexNet weights are not in {checkpoints} (nothing is downloaded unasked; "
            "fetch them once with torchvision.models.alexnet(weights='DEFAULT'))"
        )
    return None


def fid_status() -> str | None:
    """None when FID (torchmetrics, Inception weights of torch-fidelity) can run from local files; else the reason."""
    missing = [name for name in ("torchmetrics", "torch_fidelity") if importlib.util.find_spec(name) is None]
    if missing:
        return f"{' and '.join(missing)} not installed (pip install torchmetrics[image])"
    weights = _torch_hub_checkpoints() / _FID_WEIGHTS
    if not weights.is_file():
        return f"the FID Inception weights are not at {weights} (nothing is downloaded unasked)"
    return None


class LPIPSMetric:
    """Mean LPIPS (AlexNet, v0.1) between targets and reconstructions, from local weights only."""

    def __init__(self, device: torch.device) -> None:
        import lpips

        self.net = lpips.LPIPS(net="alex", verbose=False).to(device).eval()
        self.values: list[Tensor] = []

    def update(self, target: Tensor, prediction: Tensor) -> None:
        if target.shape[1] == 1:
            target, prediction = target.expand(-1, 3, -1, -1), prediction.expand(-1, 3, -1, -1)
        self.values.append(self.net(prediction * 2 - 1, target * 2 - 1).flatten().double().cpu())

    def compute(self) -> float:
        return float(torch.cat(self.values).mean())


class FIDMetric:
    """FID between the targets and the reconstructions (torchmetrics, 2048-d Inception pool features)."""

    def __init__(self, device: torch.device) -> None:
        from torchmetrics.image.fid import FrechetInceptionDistance

        self.metric = FrechetInceptionDistance(feature=2048, normalize=True).to(device)

    def update(self, target: Tensor, prediction: Tensor) -> None:
        if target.shape[1] == 1:
            target, prediction = target.expand(-1, 3, -1, -1), prediction.expand(-1, 3, -1, -1)
        self.metric.update(target.float(), real=True)
        self.metric.update(prediction.float(), real=False)

    def compute(self) -> float:
        return float(self.metric.compute())


def load_optional(status: str | None, factory: Any, device: torch.device) -> tuple[Any, str | None]:
    """`factory(device)` (`LPIPSMetric`, `FIDMetric`) and None when `status` (`lpips_status`, `fid_status`) is None
    and it loads; otherwise None and the reason."""
    if status is not None:
        return None, status
    try:
        return factory(device), None
    except Exception as error:  # a broken install must not stop the evaluation; the JSON says why
        return None, f"failed to load ({type(error).__name__}: {error})"


def compute_optional(optional: Any, reason: str | None) -> float | Unavailable:
    """The value of a `load_optional` metric, or `Unavailable` with the reason it was not loaded or failed."""
    if optional is None:
        return Unavailable(reason or "not computed")
    try:
        return optional.compute()
    except Exception as error:  # reported, never silently dropped
        return Unavailable(f"failed ({type(error).__name__}: {error})")
