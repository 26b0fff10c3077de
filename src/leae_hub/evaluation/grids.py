"""Sample grids: the model card's image of inputs, reconstructions and inpaintings, and the one grid layout of the
library (`grid_array`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .holes import inpainting_masks


@torch.inference_mode()
def sample_grid(model: torch.nn.Module, pixel_values: Tensor, hole_ratio: float = 0.35, seed: int = 0) -> Any:
    """A PIL image of four rows: inputs, reconstructions, inputs with the evaluation hole (grey), inpaintings.

    Uses the same masks as the `inpainting` evaluation (`inpainting_masks` of image indices 0..B-1).
    """
    from PIL import Image

    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    x = pixel_values.float().to(device)
    mask = inpainting_masks(range(x.shape[0]), x.shape[2], x.shape[3], hole_ratio, seed).to(device)
    rows = [x, model(x).reconstruction.float(), x * (1 - mask) + 0.5 * mask, model.inpaint(x, mask).float()]
    model.train(was_training)
    return Image.fromarray(grid_array(rows))


def grid_array(rows: Sequence[Tensor], pad: int = 2) -> np.ndarray:
    """The one grid layout of the library: image batches `[B, C, H, W]` in [0, 1] as rows (grey repeated to RGB) on a
    white background with `pad` pixels between images; uint8 `[rows·(H + pad) + pad, B·(W + pad) + pad, 3]`."""
    rows = [row.detach().float().cpu().clamp(0, 1) for row in rows]
    rows = [row.expand(-1, 3, -1, -1) if row.shape[1] == 1 else row for row in rows]
    batch, _, height, width = rows[0].shape
    canvas = torch.ones(3, len(rows) * (height + pad) + pad, batch * (width + pad) + pad)
    for r, row in enumerate(rows):
        for c in range(row.shape[0]):
            top, left = pad + r * (height + pad), pad + c * (width + pad)
            canvas[:, top : top + height, left : left + width] = row[c]
    return (canvas.permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
