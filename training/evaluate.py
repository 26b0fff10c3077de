"""Evaluate a saved leae model on a data source and write the metrics as JSON (they feed the model card).

    python training/evaluate.py --model runs/shapes-quick/model --data synthetic-shapes --split test --json eval.json
    python training/evaluate.py --model org/leae-celeba-128 --data flwrlabs/celeba --split test --json eval.json \\
        --no_representation --max_images 2000 --sample_grid samples.png

`--model` is a folder written by `save_pretrained` or a Hub repo id. The metrics and the JSON layout are those of
`leae_hub.evaluation.evaluate_model`: reconstruction (PSNR, SSIM, MS-SSIM, per-image-mean baseline, LPIPS and FID when
their weights are on disk), inpainting (PSNR inside a seeded square hole and over the image), representation (k-NN and
linear probe on frozen latents, with raw-pixel and random-init-encoder baselines; needs labels and a train split),
collapse (RankMe, per-dimension std, SIGReg) and model facts. Infinite values are written as the string "inf".
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModel

import leae_hub  # noqa: F401  (registers the Auto* classes)
from leae_hub.data import build_dataset
from leae_hub.evaluation import evaluate_model, sample_grid


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="a folder written by save_pretrained, or a Hub repo id")
    parser.add_argument("--data", required=True, help="data source spec (see leae_hub.data.DATA_SOURCES)")
    parser.add_argument("--split", default="test", help="the split to measure")
    parser.add_argument("--train_split", default="train", help="the split for the k-NN bank and the linear probe")
    parser.add_argument("--json", required=True, help="where to write the metrics")
    parser.add_argument("--batch_size", type=int, default=256)
    parser.add_argument("--max_images", type=int, default=None, help="a seeded subset of the split (default: all)")
    parser.add_argument(
        "--max_train_images", type=int, default=10_000, help="a seeded subset of the train split; 0 = all (10000)"
    )
    parser.add_argument("--hole_ratio", type=float, default=0.35, help="area of the inpainting hole")
    parser.add_argument("--seed", type=int, default=0, help="subset, masks, random-init encoder, SIGReg directions")
    parser.add_argument("--no_representation", action="store_true", help="skip k-NN / linear probe (no train split)")
    parser.add_argument("--device", default=None, help="cuda, cpu, ... (default: cuda when available)")
    parser.add_argument("--revision", default=None, help="Hub revision of --model")
    parser.add_argument("--sample_grid", default=None, help="also save a grid of 8 test samples to this PNG")
    return parser.parse_args(argv)


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """Write strict JSON atomically: to a temporary file next to `path`, then `os.replace`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(payload, indent=2, allow_nan=False) + "\n")
    os.replace(temporary, path)


def summary_table(metrics: dict[str, Any]) -> str:
    """A few headline numbers, one per line."""

    def show(value: Any, digits: int = 4) -> str:
        return f"{value:.{digits}f}" if isinstance(value, float) else str(value)

    rec, inp, col, mod = (metrics[key] for key in ("reconstruction", "inpainting", "collapse", "model"))
    lines = [
        (
            "PSNR (dB)",
            show(rec["psnr"], 2) + f"  (per-image-mean baseline {show(rec['per_image_mean_baseline_psnr'], 2)})",
        ),
        ("SSIM / MS-SSIM", f"{show(rec['ssim'])} / {show(rec['ms_ssim'])}"),
        ("LPIPS / FID", f"{show(rec['lpips'])} / {show(rec['fid'])}"),
        (
            f"inpainting PSNR, hole {inp['hole_ratio']}",
            f"{show(inp['psnr_hole'], 2)} in the hole, {show(inp['psnr_total'], 2)} overall",
        ),
    ]
    representation = metrics["representation"]
    if isinstance(representation, dict):
        raw = representation["baselines"]["raw_pixels"]
        rand = representation["baselines"]["random_init_encoder"]
        lines.append(("probe labels", representation["labels"]))
        for name, source in (("model", representation), ("raw pixels", raw), ("random-init encoder", rand)):
            knn = source["knn_top1"]
            lines.append(
                (
                    f"k-NN@5 / k-NN@20 / probe, {name}",
                    f"{show(knn['5'])} / {show(knn['20'])} / {show(source['linear_probe'])}",
                )
            )
    else:
        lines.append(("representation", representation))
    lines += [
        ("RankMe", f"{show(col['rankme'], 1)} of at most {col['rankme_max']}"),
        ("latent std min / mean / max", " / ".join(show(col[k], 3) for k in ("std_min", "std_mean", "std_max"))),
        ("SIGReg", show(col["sigreg"], 3)),
        ("parameters / compression", f"{mod['parameters']:,} / {mod['compression_ratio']:.1f}x"),
        ("eval throughput (images/s)", show(mod["eval_images_per_s"], 0)),
    ]
    width = max(len(name) for name, _ in lines)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model = AutoModel.from_pretrained(args.model, revision=args.revision).to(device).eval()
    config = model.config
    options = {"image_size": config.image_size, "channels": config.in_channels, "seed": args.seed}
    test = build_dataset(args.data, split=args.split, **options)
    train = None if args.no_representation else build_dataset(args.data, split=args.train_split, **options)
    started = time.perf_counter()
    metrics = evaluate_model(
        model,
        test,
        train,
        batch_size=args.batch_size,
        max_images=args.max_images,
        max_train_images=args.max_train_images or None,
        hole_ratio=args.hole_ratio,
        seed=args.seed,
        representation=not args.no_representation,
        data_spec=args.data,
        split=args.split,
        train_split=None if args.no_representation else args.train_split,
        progress=True,
    )
    metrics["model"]["name_or_path"] = args.model
    metrics["evaluation"]["wall_time_s"] = time.perf_counter() - started
    write_json(Path(args.json), metrics)
    if args.sample_grid:
        images = torch.stack([item["pixel_values"] for _, item in zip(range(8), iter(test), strict=False)])
        sample_grid(model, images, hole_ratio=args.hole_ratio, seed=args.seed).save(args.sample_grid)
    print(summary_table(metrics))
    print(f"wrote {args.json}")
    return metrics


if __name__ == "__main__":
    main(sys.argv[1:])
