"""A sample grid of a saved model on image files: inputs, reconstructions, the evaluation hole, inpaintings.

    python training/sample_grid.py --model runs/faces128-self-teaching/model --images spaces/leae-demo/examples \
        --output model_cards/leae-faces-128/samples.png

With `--compare`, the inpainting figure of several models on the same holes instead (rows: input, input with the
hole in grey, then each model's inpainting, in the order given; the hole from `--hole`, one of
`leae_hub.evaluation.HOLE_KINDS`, placed by the image's position as in the evaluation):

    python training/sample_grid.py --model model_cards/leae-faces-128-masked \
        --compare model_cards/leae-faces-128-baseline --images spaces/leae-demo/examples --hole centre-25 \
        --output docs/figures/faces128-inpainting.png

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
from leae_hub.evaluation import HOLE_KINDS, grid_array, hole_masks, sample_grid

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")


def load_model(name: str) -> torch.nn.Module:
    return AutoModel.from_pretrained(name).eval()


def inpainting_figure(
    models: list[torch.nn.Module], pixel_values: torch.Tensor, hole: str, seed: int = 0
) -> Image.Image:
    """Rows: the inputs, the inputs with the hole in grey, then each model's `inpaint` of the same holes."""
    x = pixel_values.float()
    mask = hole_masks(hole, range(x.shape[0]), x.shape[2], x.shape[3], seed)
    rows = [x, x * (1 - mask) + 0.5 * mask, *(model.inpaint(x, mask).float() for model in models)]
    return Image.fromarray(grid_array(rows))


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="a folder written by save_pretrained, or a Hub repo id")
    parser.add_argument("--images", required=True, type=Path, help="a folder of images (sorted by name)")
    parser.add_argument("--output", required=True, type=Path, help="the PNG to write")
    parser.add_argument("--count", type=int, default=8, help="how many images (the first by name)")
    parser.add_argument("--compare", nargs="+", default=None, help="more models: draw the inpainting figure")
    parser.add_argument("--hole", default="centre-25", choices=HOLE_KINDS, help="the hole of the inpainting figure")
    args = parser.parse_args(argv)
    files = sorted(p for p in args.images.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[: args.count]
    if not files:
        raise SystemExit(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {args.images}")
    model = load_model(args.model)
    processor = AutoImageProcessor.from_pretrained(args.model)
    pixel_values = processor([Image.open(path) for path in files]).pixel_values
    with torch.inference_mode():
        if args.compare:
            grid = inpainting_figure([model, *map(load_model, args.compare)], pixel_values, args.hole)
        else:
            grid = sample_grid(model, pixel_values)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    grid.save(args.output)
    print(f"wrote {args.output} ({len(files)} images from {args.images})")
    return args.output


if __name__ == "__main__":
    main()
