"""A short JEPA sweep on MNIST: each variant trains a few hundred steps, then k-NN@5 on the test digits.

    python training/mnist_jepa_sweep.py default noinvert noinvert+stopgrad --steps 400

The variants are named option sets of the `jepa` recipe (see `VARIANTS`; join several with `+`). Every variant starts
from the same seed and draws the same batches: `leae-cifar` at 32 px on the 10,000 MNIST training digits, batch 128,
AdamW 1e-3 with 50 warm-up steps, gradient clipping 1.0, bf16 autocast, one thread. k-NN@5 (cosine) uses the
flattened eval-mode latents of the 10,000 training digits as the bank and the 10,000 test digits as queries, and
also their spatial average ("pooled"). This is how the `mnist-jepa-sigreg` config's augmentations were chosen
(docs/results.md).
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

from leae_hub import LeaeConfig, LeaeModel  # noqa: E402
from leae_hub.evaluation import knn_accuracy  # noqa: E402
from leae_hub.lab.mnist_jepa import load_digits  # noqa: E402
from leae_hub.lab.runner import run_experiment  # noqa: E402
from leae_hub.recipes import build_recipe  # noqa: E402

VARIANTS: dict[str, dict] = {
    "default": {},
    "mse": {"prediction_loss": "mse"},
    "sig0.1": {"regularizer_weight": 0.1},
    "noinvert": {"augmentations": ["affine", "noise", "erode", "dilate"]},
    "affnoise": {"augmentations": ["affine", "noise"]},
    "crop": {"augmentations": ["affine", "noise", "erode", "dilate", "crop", "inpaint"]},
    "stopgrad": {"target": "stop-grad"},
    "vicreg": {"regularizer": "vicreg", "regularizer_weight": 1.0},
}


@torch.no_grad()
def features(model: LeaeModel, images: torch.Tensor, pooled: bool = False) -> torch.Tensor:
    model.eval()
    latents = torch.cat([model.encoder(images[i : i + 1000]) for i in range(0, len(images), 1000)])
    model.train()
    return latents.mean(dim=(2, 3)) if pooled else latents.flatten(1)


def run(name: str, options: dict, steps: int, train: tuple, test: tuple) -> dict:
    torch.manual_seed(0)
    model = LeaeModel(LeaeConfig.from_preset("leae-cifar", image_size=32, in_channels=1)).train()
    recipe = build_recipe("jepa", total_steps=steps, **options)
    params = list(recipe.trainable_parameters(model))
    trainable = {id(p) for p in params}
    for parameter in model.parameters():
        parameter.requires_grad_(id(parameter) in trainable)
    optimizer = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / 50))
    generator = torch.Generator().manual_seed(0)
    start, logs = time.time(), {}
    for step in range(steps):
        index = torch.randint(0, len(train[0]), (128,), generator=generator)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = recipe(model, {"pixel_values": train[0][index]}, step)
        optimizer.zero_grad()
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        schedule.step()
        recipe.update(model, step)
        logs = out.logs
    knn = knn_accuracy(features(model, train[0]), train[1], features(model, test[0]), test[1], k=5)[5]
    pooled = knn_accuracy(features(model, train[0], True), train[1], features(model, test[0], True), test[1], k=5)[5]
    return {"variant": name, "knn5": knn, "knn5_pooled": pooled, "train_s": round(time.time() - start), **logs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("variants", nargs="+", help=f"names from {sorted(VARIANTS)}, joined with + to combine")
    parser.add_argument("--steps", type=int, default=400)
    args = parser.parse_args()
    for spec in args.variants:
        unknown = [part for part in spec.split("+") if part not in VARIANTS]
        if unknown:
            parser.error(f"unknown variant {unknown}; choose from {sorted(VARIANTS)}")
    run_experiment(lambda: sweep(args.variants, args.steps))


def sweep(variants: list[str], steps: int) -> dict[str, dict]:
    """Every variant in turn on the same data, its result printed as a JSON line as it ends; returns them all."""
    train, test = load_digits("mnist", "train", 32), load_digits("mnist", "test", 32)
    results = {}
    for spec in variants:
        options: dict = {}
        for part in spec.split("+"):
            options.update(VARIANTS[part])
        results[spec] = run(spec, options, steps, train, test)
        print(json.dumps(results[spec]), flush=True)
    return results


if __name__ == "__main__":
    main()
