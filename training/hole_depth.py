"""How far into a hole an inpainter reaches: PSNR ring by ring inside a centred hole, against the mean-colour fill,
and the receptive field that bounds it.

    python training/hole_depth.py --model runs/faces128-baseline/model-1000steps --data utkface --split test \
        --max_images 200 --json docs/results/faces128-hole-depth.json

A pixel's depth in the hole is its Chebyshev distance to the nearest known pixel: 1 on the rim, side/2 at the centre
of a centred square (32 for the 64 × 64 hole of 25 % at 128 px). The hole is cut into rings `--ring` pixels deep, and
each ring gets the PSNR of `model.inpaint` and of the mean-colour fill (the visible pixels' mean, what `inpaint` puts
in the hole before it encodes), per image, then averaged over images, as `hole_psnr` in the evaluation.

The receptive field: for the output pixel at the middle of each ring's top edge, the gradient of its three channels
with respect to the mean-filled input (model in eval mode, as `inpaint` runs it). `known_gradient_share` is the
share of the absolute gradient that falls on known pixels: near 0, the output there is computed from the fill alone,
whatever the model learned; `reach_px` is the largest Chebyshev distance from that output pixel at which any input
pixel has a non-zero gradient (the theoretical receptive field's half-width).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from transformers import AutoModel

import leae_hub  # noqa: F401  (registers the Auto* classes)
from leae_hub.data import build_dataset
from leae_hub.evaluation import hole_psnr, mean_fill
from leae_hub.evaluation.batches import image_batches
from leae_hub.hub import write_atomically
from leae_hub.views import centred_hole_mask


def hole_depth(mask: Tensor) -> Tensor:
    """The depth of every pixel of a centred square hole: its Chebyshev distance to the nearest known pixel (1 on the
    rim), 0 outside the hole. `mask` is one [H, W] hole of 1s; returns an integer [H, W] map."""
    rows, cols = torch.nonzero(mask, as_tuple=True)
    top, bottom, left, right = rows.min(), rows.max(), cols.min(), cols.max()
    row = torch.arange(mask.shape[0]).view(-1, 1)
    col = torch.arange(mask.shape[1]).view(1, -1)
    depth = torch.minimum(torch.minimum(row - top, bottom - row), torch.minimum(col - left, right - col)) + 1
    return depth.clamp(min=0) * (mask > 0)


def rings_of(depth: Tensor, width: int) -> list[tuple[int, int]]:
    """Consecutive depth ranges [from, to] of `width` pixels covering the hole, from the rim inwards."""
    deepest = int(depth.max())
    return [(start, min(start + width - 1, deepest)) for start in range(1, deepest + 1, width)]


def gradient_reach(model: torch.nn.Module, filled: Tensor, mask: Tensor, row: int, col: int) -> tuple[float, int]:
    """(share of the absolute input gradient of output pixel (row, col) on known pixels, the largest Chebyshev distance
    with a non-zero gradient), for the images of `filled` ([B, C, H, W]) averaged / maximised over the batch."""
    inputs = filled.clone().requires_grad_(True)
    output = model.decoder(model.encoder(inputs))
    output[:, :, row, col].sum().backward()
    magnitude = inputs.grad.abs().sum(dim=1)  # [B, H, W]
    known = 1.0 - mask[:, 0]
    share = ((magnitude * known).flatten(1).sum(1) / magnitude.flatten(1).sum(1)).mean()
    where = torch.nonzero(magnitude.amax(dim=0) > 0)
    reach = (where - torch.tensor([row, col])).abs().amax(dim=1).max()
    return float(share), int(reach)


def measure(
    model: torch.nn.Module, images: list[Tensor], hole_area: float, ring: int, gradient_images: int
) -> dict[str, Any]:
    """The ring table of one model on `images` (a list of [b, C, H, W] batches)."""
    height, width = images[0].shape[-2:]
    mask = centred_hole_mask(1, height, width, hole_area)
    depth = hole_depth(mask[0, 0])
    ranges = rings_of(depth, ring)
    ring_masks = [((depth >= low) & (depth <= high)).float().view(1, 1, height, width) for low, high in ranges]
    scores: dict[str, list[Tensor]] = {"model": [], "floor": []}
    for x in images:
        holes = mask.expand(len(x), -1, -1, -1)
        filled = model.inpaint(x, holes)
        floor = mean_fill(x, holes)
        for name, guess in (("model", filled), ("floor", floor)):
            scores[name].append(
                torch.stack([hole_psnr(guess, x, ring_mask.expand_as(holes)) for ring_mask in ring_masks], dim=1)
            )
    model_psnr = torch.cat(scores["model"]).mean(dim=0)
    floor_psnr = torch.cat(scores["floor"]).mean(dim=0)
    probe = torch.cat(images)[:gradient_images]
    probe_holes = mask.expand(len(probe), -1, -1, -1)
    probe_filled = mean_fill(probe, probe_holes)
    top, centre_col = int(torch.nonzero(mask[0, 0])[:, 0].min()), width // 2
    rows = []
    model.eval()
    for index, (low, high) in enumerate(ranges):
        share, reach = gradient_reach(model, probe_filled, probe_holes, top + low - 1, centre_col)
        rows.append(
            {
                "depth_px": [low, high],
                "area_share": round(float(ring_masks[index].sum() / mask.sum()), 4),
                "psnr_model": round(float(model_psnr[index]), 3),
                "psnr_mean_fill": round(float(floor_psnr[index]), 3),
                "gain_db": round(float(model_psnr[index] - floor_psnr[index]), 3),
                "known_gradient_share": round(share, 4),
                "reach_px": reach,
            }
        )
    return {"rings": rows, "hole_side_px": int(mask[0, 0].sum(dim=0).max())}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", required=True, help="a saved model folder (repeatable)")
    parser.add_argument("--data", default="utkface")
    parser.add_argument("--split", default="test")
    parser.add_argument("--max_images", type=int, default=200, help="a seeded subset of the split")
    parser.add_argument("--hole_area", type=float, default=0.25, help="the centred hole's share of the image")
    parser.add_argument("--ring", type=int, default=8, help="ring depth in pixels")
    parser.add_argument("--gradient_images", type=int, default=8, help="images for the receptive-field gradients")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)
    results: dict[str, Any] = {"settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}}
    first = AutoModel.from_pretrained(args.model[0])
    dataset = build_dataset(args.data, split=args.split, image_size=first.config.image_size, seed=args.seed)
    images = [x for x, _ in image_batches(dataset, 50, args.max_images, args.seed)]
    results["images"] = sum(len(x) for x in images)
    results["models"] = {}
    for folder in args.model:
        model = AutoModel.from_pretrained(folder).eval()
        results["models"][folder] = measure(model, images, args.hole_area, args.ring, args.gradient_images)
        print(f"\n{folder} (centred hole of {args.hole_area:.0%}, {results['images']} images)")
        print(
            "| depth (px) | share of the hole | model PSNR | mean fill PSNR | gain (dB) "
            "| gradient on known pixels | reach (px) |"
        )
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for row in results["models"][folder]["rings"]:
            low, high = row["depth_px"]
            print(
                f"| {low}–{high} | {row['area_share']:.0%} | {row['psnr_model']:.2f} | {row['psnr_mean_fill']:.2f} | "
                f"{row['gain_db']:+.2f} | {row['known_gradient_share']:.1%} | {row['reach_px']} |"
            )
    if args.json:
        write_atomically(args.json, json.dumps(results, indent=1) + "\n")
    return results


if __name__ == "__main__":
    main()
