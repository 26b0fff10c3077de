"""MNIST JEPA like the seed's run (the JEPA tutorial's `jepa_mnist.py`): k-NN@5, the learning curve, phase 2.

    python training/mnist_jepa.py evaluate --model runs/mnist-jepa/model            # JEPA vs raw pixels vs random
    python training/mnist_jepa.py curve --run runs/mnist-jepa                       # k-NN@5 of every checkpoint
    python training/mnist_jepa.py phase2 --model runs/mnist-jepa-decoder/model      # reconstructions from perturbed
    python training/mnist_jepa.py phase2 --model runs/mnist-jepa-seed-decoder/model --digit_erosion skeleton \
        --digit_affine seed --out docs/lab/mnist_jepa_seed                          # the seed setup's perturbation

k-NN: Euclidean, k = 5, majority vote, on the flattened embeddings (128-d for leae-mnist), bank = all training digits,
queries = all test digits of `--data` (default `mnist-full`: 60,000 / 10,000). Results go to OUT/mnist_jepa*.json
(OUT defaults to docs/lab) with a markdown table printed and written next to them; figures to OUT/mnist_jepa/. See
docs/lab.md, section "MNIST JEPA".
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402
from PIL import Image  # noqa: E402
from transformers import AutoModel  # noqa: E402

from leae_hub import LeaeConfig, LeaeModel  # noqa: E402
from leae_hub import views as V  # noqa: E402
from leae_hub.evaluation import grid_array  # noqa: E402
from leae_hub.lab import mnist_jepa as M  # noqa: E402
from leae_hub.lab.runner import run_experiment, settings_from_flags, write_json, write_text  # noqa: E402
from leae_hub.trainer import ModelArguments  # noqa: E402

SCORE_COLUMNS = ("accuracy", "precision", "recall", "f1")


def _command() -> str:
    return "python training/mnist_jepa.py " + " ".join(sys.argv[1:])


def _write(out: Path, name: str, result: dict, table: str) -> None:
    write_json(out / f"{name}.json", result, indent=2)
    write_text(out / f"{name}_table.md", table + "\n")
    print(table)


def evaluate(settings: M.KnnSettings) -> dict:
    """k-NN@5 scores of the trained encoder, of raw pixels and of an untrained encoder of the same architecture."""
    start = time.perf_counter()
    model = AutoModel.from_pretrained(settings.model)
    size = model.config.image_size
    train, test = M.load_digits(settings.data, "train", size), M.load_digits(settings.data, "test", size)
    torch.manual_seed(settings.seed)
    untrained = LeaeModel(model.config)  # the same architecture, freshly initialised
    rows = {
        "JEPA encoder": M.knn_scores(model, train, test, settings.k),
        "JEPA encoder, cosine": M.knn_scores(model, train, test, settings.k, distance="cosine"),
        "raw pixels": M.knn_scores(None, train, test, settings.k),
        f"random encoder (untrained, seed {settings.seed})": M.knn_scores(untrained, train, test, settings.k),
    }
    result = {
        "command": _command(),
        "model": str(settings.model),
        "data": settings.data,
        "bank": len(train[1]),
        "queries": len(test[1]),
        "k": settings.k,
        "distance": "euclidean (and cosine where the row says so)",
        "rows": rows,
        "seconds": round(time.perf_counter() - start, 1),
    }
    header = f"| features | dim | k-NN@{settings.k} accuracy | weighted precision | weighted recall | weighted F1 |"
    lines = [header, "| --- | --- | --- | --- | --- | --- |"]
    for name, row in rows.items():
        lines.append(f"| {name} | {row['dim']} | " + " | ".join(f"{row[c]:.4f}" for c in SCORE_COLUMNS) + " |")
    _write(Path(settings.out), "mnist_jepa", result, "\n".join(lines))
    return result


def curve(settings: M.KnnSettings) -> dict:
    """k-NN@5 accuracy of a run's kept checkpoints (all, or `--epochs`); the JSON is rewritten after each one, and
    checkpoints already in it are skipped."""
    run = Path(settings.run)
    config = LeaeConfig.from_pretrained(settings.config_from) if settings.config_from else None
    train_config = yaml.safe_load((run / "train_config.yaml").read_text())
    out = Path(settings.out)
    path = out / "mnist_jepa_curve.json"
    points = {p["step"]: p for p in json.loads(path.read_text())["points"]} if path.exists() else {}
    checkpoints = sorted((run / "checkpoints").glob("checkpoint-*"), key=M.checkpoint_step)
    if config is None:  # the run's preset with the model settings it overrode (train_config.yaml)
        fields = dataclasses.fields(ModelArguments)
        overrides = {f.name: train_config.get(f.name) for f in fields if f.name not in ("preset", "init_from")}
        config = LeaeConfig.from_preset(
            train_config["preset"], in_channels=1, **{k: v for k, v in overrides.items() if v is not None}
        )
    train = M.load_digits(settings.data, "train", config.image_size)
    test = M.load_digits(settings.data, "test", config.image_size)
    steps_per_epoch = len(train[1]) // train_config["batch_size"]
    for checkpoint in checkpoints:
        step = M.checkpoint_step(checkpoint)
        if step in points or (settings.epochs and step / steps_per_epoch not in settings.epochs):
            continue
        scores = M.knn_scores(M.encoder_from_checkpoint(checkpoint, config), train, test, settings.k)
        points[step] = {"step": step, "epoch": step / steps_per_epoch, **scores}
        print(
            f"step {step} (epoch {step / steps_per_epoch:.2f}): k-NN@{settings.k} {scores['accuracy']:.4f}", flush=True
        )
        _write_curve(settings, run, out, points)
    return _write_curve(settings, run, out, points)


def _write_curve(settings: M.KnnSettings, run: Path, out: Path, points: dict[int, dict]) -> dict:
    ordered = [points[s] for s in sorted(points)]
    result = {"command": _command(), "run": str(run), "data": settings.data, "k": settings.k, "points": ordered}
    lines = [f"| epoch | step | k-NN@{settings.k} accuracy | weighted F1 |", "| --- | --- | --- | --- |"]
    lines += [f"| {p['epoch']:.0f} | {p['step']} | {p['accuracy']:.4f} | {p['f1']:.4f} |" for p in ordered]
    _write(out, "mnist_jepa_curve", result, "\n".join(lines))
    if ordered:
        _plot_curve(ordered, settings.k, out / "mnist_jepa" / "knn_curve.png")
    return result


def _plot_curve(points: list[dict], k: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    figure, axis = plt.subplots(figsize=(5, 3.2), dpi=120)
    axis.plot([p["epoch"] for p in points], [p["accuracy"] for p in points], marker="o")
    seed = M.SEED_KNN_ACCURACY
    axis.axhline(seed, color="grey", linestyle="--", label=f"seed report: {seed}")
    axis.set_xlabel("epoch")
    axis.set_ylabel(f"k-NN@{k} test accuracy")
    axis.legend()
    axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def phase2(settings: M.KnnSettings) -> dict:
    """The phase-2 model (a decoder trained to restore clean digits from perturbed ones): test MSE / PSNR against the
    clean digit, for the reconstruction and for the perturbed input itself, and the original / perturbed /
    reconstructed figure (the first test digit of each class)."""
    model = AutoModel.from_pretrained(settings.model)
    images, labels = M.load_digits(settings.data, "test", model.config.image_size)
    originals, perturbed, reconstructed = [], [], []
    for index, chunk in enumerate(images.split(1000)):
        rows = M.reconstruction_rows(
            model, chunk, settings.strength, settings.seed + index, settings.digit_erosion, settings.digit_affine
        )
        originals.append(rows[0])
        perturbed.append(rows[1])
        reconstructed.append(rows[2])
    original, noisy, restored = torch.cat(originals), torch.cat(perturbed), torch.cat(reconstructed)

    def scores(candidate: torch.Tensor) -> dict[str, float]:
        mse = (candidate - original).square().flatten(1).mean(dim=1)
        return {"mse": float(mse.mean()), "psnr_db": float((-10 * mse.clamp_min(1e-10).log10()).mean())}

    result = {
        "command": _command(),
        "model": str(settings.model),
        "data": settings.data,
        "images": len(labels),
        "strength": settings.strength,
        "digit_erosion": settings.digit_erosion,
        "digit_affine": settings.digit_affine,
        "reconstruction": scores(restored),
        "perturbed input": scores(noisy),
    }
    lines = ["| against the clean digit | MSE | PSNR (dB) |", "| --- | --- | --- |"]
    for name in ("reconstruction", "perturbed input"):
        lines.append(f"| {name} | {result[name]['mse']:.4f} | {result[name]['psnr_db']:.2f} |")
    _write(Path(settings.out), "mnist_jepa_phase2", result, "\n".join(lines))
    picks = [int((labels == digit).nonzero()[0]) for digit in range(10)]
    grid = grid_array([original[picks], noisy[picks], restored[picks]])
    figure = Path(settings.out) / "mnist_jepa" / "reconstruction.png"
    figure.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.kron(grid, np.ones((3, 3, 1), dtype=np.uint8))).save(figure)
    print(f"rows: original / perturbed (strength {settings.strength}) / reconstructed -> {figure}")
    return result


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    for name, function in (("evaluate", evaluate), ("curve", curve), ("phase2", phase2)):
        sub = commands.add_parser(name, help=function.__doc__)
        sub.set_defaults(function=function)
        sub.add_argument("--data", default=M.KnnSettings.data, help="data source with train/test splits")
        sub.add_argument("--out", default=M.KnnSettings.out, help="folder for the JSON, the table and the figures")
        sub.add_argument(
            "--seed", type=int, default=M.KnnSettings.seed, help="the untrained encoder's / the perturbations' seed"
        )
        if name != "phase2":
            sub.add_argument("--k", type=int, default=M.KnnSettings.k, help="neighbours of the k-NN classifier")
        if name == "curve":
            sub.add_argument("--run", required=True, help="a `leae train` output_dir with checkpoints/checkpoint-*/")
            sub.add_argument("--config_from", help="a saved model whose config the checkpoints use (default: preset)")
            sub.add_argument("--epochs", type=float, nargs="*", help="evaluate only these epochs' checkpoints")
        else:
            sub.add_argument("--model", required=True, help="a saved model folder")
        if name == "phase2":
            sub.add_argument(
                "--strength", type=float, default=M.KnnSettings.strength, help="perturbation strength, in [0, 1]"
            )
            sub.add_argument(
                "--digit_erosion",
                choices=V.DIGIT_EROSIONS,
                default=M.KnnSettings.digit_erosion,
                help="the perturbation's erosion, as the phase-2 run's (skeleton: the seed's; needs scikit-image)",
            )
            sub.add_argument(
                "--digit_affine",
                choices=V.DIGIT_AFFINES,
                default=M.KnnSettings.digit_affine,
                help="the perturbation's affine map, as the phase-2 run's (seed: the seed's own)",
            )
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    settings = settings_from_flags(M.KnnSettings, args)
    run_experiment(lambda: args.function(settings), threads=int(os.environ.get("OMP_NUM_THREADS", "1")))


if __name__ == "__main__":
    main()
