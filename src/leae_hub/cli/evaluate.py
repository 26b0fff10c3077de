"""`leae evaluate` (and `training/evaluate.py`): measure a saved model on a data source, print the metric table
(read from `leae_hub.evaluation.schema`) and write the metrics as JSON."""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .running import COMMANDS

logger = logging.getLogger(__name__)


def parse_evaluate_args(argv: Sequence[str] | None = None, prog: str | None = None) -> argparse.Namespace:
    """The options of `leae evaluate` / `training/evaluate.py`."""
    parser = argparse.ArgumentParser(prog=prog, description=COMMANDS["evaluate"])
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
    parser.add_argument(
        "--image_crop",
        type=float,
        nargs=4,
        default=None,
        metavar=("LEFT", "TOP", "RIGHT", "BOTTOM"),
        help="keep this box of each image before the resize, in fractions of its width and height (as in training)",
    )
    parser.add_argument("--seed", type=int, default=0, help="subset, masks, random-init encoder, SIGReg directions")
    parser.add_argument("--no_representation", action="store_true", help="skip k-NN / linear probe (no train split)")
    parser.add_argument("--device", default=None, help="cuda, cpu, ... (default: cuda when available)")
    parser.add_argument("--revision", default=None, help="Hub revision of --model")
    parser.add_argument("--sample_grid", default=None, help="also save a grid of 8 test samples to this PNG")
    return parser.parse_args(argv)


def check_writable(path: Path) -> None:
    """Fail now, not after a long evaluation, when `path` cannot be written (its folder is created if missing)."""
    if path.is_dir():
        raise IsADirectoryError(f"--json {path} is a folder: give a file name, e.g. {path / 'eval.json'}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        probe = path.with_name(f".{path.name}.{os.getpid()}.probe")
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise PermissionError(f"--json {path} cannot be written ({error}); choose a writable path") from error


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """Write strict JSON atomically (`hub.write_atomically`)."""
    from ..hub import write_atomically

    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, json.dumps(payload, indent=2, allow_nan=False) + "\n")


def summary_table(metrics: dict[str, Any]) -> str:
    """A few headline numbers of `evaluate_model`'s result, one per line (a missing metric shows its reason)."""
    from ..evaluation import HOLE_KINDS, schema

    def show(item: schema.Metric) -> str:
        value = item.value(metrics)
        return f"{value:.{item.summary_decimals}f}" if isinstance(value, float) else str(value)

    lines = [
        (schema.PSNR.label, f"{show(schema.PSNR)}  (per-image-mean baseline {show(schema.BASELINE_PSNR)})"),
        (f"{schema.SSIM.short} / {schema.MS_SSIM.short}", f"{show(schema.SSIM)} / {show(schema.MS_SSIM)}"),
        (f"{schema.LPIPS.short} / {schema.FID.short}", f"{show(schema.LPIPS)} / {show(schema.FID)}"),
        (
            f"inpainting PSNR, hole {schema.HOLE_RATIO.value(metrics)}",
            f"{show(schema.HOLE_PSNR)} in the hole, {show(schema.TOTAL_PSNR)} overall",
        ),
        *(
            (
                f"hole PSNR, {kind} (mean-colour fill)",
                "{} ({})".format(
                    *(show(schema.hole_metric(kind, fill, schema.PSNR_IN_HOLE)) for fill in schema.HOLE_FILLS)
                ),
            )
            for kind in (metrics.get("holes") or {})
            if kind in HOLE_KINDS
        ),
    ]
    representation = schema.REPRESENTATION.value(metrics)
    if isinstance(representation, dict):
        lines.append(("probe labels", representation["labels"]))
        for name, source in schema.REPRESENTATION_SOURCES.items():
            scores = " / ".join(show(score.under(source)) for score in schema.REPRESENTATION_SCORES)
            lines.append((f"k-NN@5 / k-NN@20 / probe, {name}", scores))
    else:
        lines.append((schema.REPRESENTATION.section, str(representation)))
    compression = f"{schema.COMPRESSION_RATIO.value(metrics):.{schema.COMPRESSION_RATIO.digits}f}x"
    lines += [
        (schema.RANKME.short, f"{show(schema.RANKME)} of at most {schema.RANKME_MAX.value(metrics)}"),
        ("latent std min / mean / max", " / ".join(show(item) for item in schema.LATENT_STD)),
        (schema.SIGREG.short, show(schema.SIGREG)),
        ("parameters / compression", f"{schema.PARAMETERS.value(metrics):,} / {compression}"),
        ("eval throughput (images/s)", show(schema.THROUGHPUT)),
    ]
    width = max(len(name) for name, _ in lines)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in lines)


def evaluate_main(argv: Sequence[str] | None = None, prog: str | None = None) -> dict[str, Any]:
    """Evaluate a saved model (`leae_hub.evaluation.evaluate_model`), write the JSON, print the summary table."""
    import torch
    from transformers import AutoModel

    from ..data import build_dataset, readable_items
    from ..evaluation import evaluate_model, sample_grid
    from ..hub import weights_sha256

    args = parse_evaluate_args(argv, prog)
    check_writable(Path(args.json))
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model = AutoModel.from_pretrained(args.model, revision=args.revision).to(device).eval()
    config = model.config
    options = {"image_size": config.image_size, "channels": config.in_channels, "seed": args.seed}
    if args.image_crop:
        options["crop"] = args.image_crop
    test = build_dataset(args.data, split=args.split, **options)
    train = None if args.no_representation else build_dataset(args.data, split=args.train_split, **options)
    if train is not None:
        logger.info(
            "after the %s split: encoding up to %s %s images for the k-NN bank and the linear probe, then fitting it",
            args.split,
            args.max_train_images or "all",
            args.train_split,
        )
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
    metrics["model"]["weights_sha256"] = weights_sha256(_model_folder(args.model, args.revision))
    metrics["evaluation"]["wall_time_s"] = time.perf_counter() - started
    write_json(Path(args.json), metrics)
    if args.sample_grid:
        first = readable_items(test, range(min(8, len(test)))) if hasattr(test, "__len__") else iter(test)
        images = torch.stack([item["pixel_values"] for _, item in zip(range(8), first, strict=False)])
        sample_grid(model, images, hole_ratio=args.hole_ratio, seed=args.seed).save(args.sample_grid)
    print(summary_table(metrics))
    logger.info("wrote %s", args.json)
    return metrics


def _model_folder(model: str, revision: str | None) -> Path:
    """The local folder of a model: `model` itself, or the Hub cache's snapshot that `from_pretrained` filled."""
    if Path(model).is_dir():
        return Path(model)
    from transformers.utils import cached_file

    return Path(cached_file(model, "config.json", revision=revision)).parent
