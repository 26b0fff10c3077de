"""A sample grid of a saved model on image files: inputs, reconstructions, the evaluation hole, inpaintings.

    python training/sample_grid.py --model runs/faces128-self-teaching/model --images spaces/leae-demo/examples \
        --output model_cards/leae-faces-128/samples.png

The face data sets (UTKFace, CelebA) may not be copied into the repository, so the grids of the face models that go
into cards and docs show the Space's example photos (UTKFace test images shipped under their licence,
spaces/leae-demo/examples/LICENSE.md), prepared by the model's own image processor; `evaluate.py --sample_grid` draws
from the test split instead, for local inspection.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from PIL import Image
from transformers import AutoImageProcessor, AutoModel

import leae_hub  # noqa: F401  (registers the Auto* classes)
from leae_hub.evaluation import sample_grid

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="a folder written by save_pretrained, or a Hub repo id")
    parser.add_argument("--images", required=True, type=Path, help="a folder of images (sorted by name)")
    parser.add_argument("--output", required=True, type=Path, help="the PNG to write")
    parser.add_argument("--count", type=int, default=8, help="how many images (the first by name)")
    args = parser.parse_args(argv)
    files = sorted(p for p in args.images.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[: args.count]
    if not files:
        raise SystemExit(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {args.images}")
    model = AutoModel.from_pretrained(args.model).eval()
    processor = AutoImageProcessor.from_pretrained(args.model)
    pixel_values = processor([Image.open(path) for path in files]).pixel_values
    with torch.inference_mode():
        grid = sample_grid(model, pixel_values)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    grid.save(args.output)
    print(f"wrote {args.output} ({len(files)} images from {args.images})")
    return args.output


if __name__ == "__main__":
    main()
