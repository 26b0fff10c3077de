"""Print the markdown tables of docs/results.md from finished run folders (train.py output + evaluate.py's eval.json).

    python training/results_tables.py runs/results/st-crop runs/results/st-plain ...
    python training/results_tables.py --holes runs/faces128-masked runs/faces128-baseline

One row per run folder: recipe and the options that differ between the rows, steps, training wall time, the last
logged training loss terms, and the test-split metrics of `eval.json` ("colour shift": the largest per-channel
|mean(x̂ − x)| over the test set, a shift shared by all images). JEPA runs trained with a decoder probe read
their JEPA stage from `<run>/jepa/`.

`--holes` prints the inpainting tables instead (table h): for each run, PSNR and SSIM on clean inputs, then for each
hole kind of the evaluation (`eval.json`'s `holes`: centred squares of 10, 25 and 35 % of the area, random holes)
PSNR and SSIM inside the hole and over the whole image, with the mean-colour fill of the first run's images as the
floor row; and the equal-step curves of the training-time evaluation (`metrics.jsonl`: clean PSNR and PSNR inside a
centred 25 % hole, against the visible-mean fill, on the run's held-out images).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import yaml

from leae_hub.evaluation import HOLE_KINDS

OPTION_KEYS = ("recipe", "views", "judge", "judge_norm", "hole_ratio", "target", "regularizer", "mixed_precision")


def _last_training_row(path: Path) -> dict[str, Any]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return next((row for row in reversed(rows) if "loss" in row), {})


def run_row(folder: Path) -> dict[str, Any]:
    """The figures of one run folder."""
    stage = folder / "jepa" if (folder / "jepa").is_dir() else folder
    config = yaml.safe_load((stage / "train_config.yaml").read_text())
    final = json.loads((stage / "final_metrics.json").read_text())
    evaluation = json.loads((folder / "eval.json").read_text())
    row: dict[str, Any] = {"run": folder.name, "seed": config.get("seed", 0)}
    row.update({key: config.get(key) for key in OPTION_KEYS})
    row["steps"], row["wall_s"] = final["steps"], final["train_wall_time_s"]
    if stage is not folder:  # the decoder probe's own stage
        probe = json.loads((folder / "final_metrics.json").read_text())
        row["probe_steps"], row["probe_wall_s"] = probe["steps"], probe["train_wall_time_s"]
    row["train"] = {k: v for k, v in _last_training_row(stage / "metrics.jsonl").items() if k not in ("step", "epoch")}
    reconstruction, inpainting = evaluation["reconstruction"], evaluation["inpainting"]
    representation, collapse = evaluation.get("representation"), evaluation["collapse"]
    representation = representation or {}  # absent: no labels (the reason is under evaluation["unavailable"])
    row.update(
        psnr=reconstruction["psnr"],
        ssim=reconstruction["ssim"],
        mean_psnr=reconstruction["per_image_mean_baseline_psnr"],
        hole_psnr=inpainting["psnr_hole"],
        masked_psnr=inpainting["psnr_total"],
        knn5=representation.get("knn_top1", {}).get("5"),
        linear=representation.get("linear_probe"),
        rankme=collapse["rankme"],
        colour_shift=max((abs(e) for e in reconstruction.get("mean_error", [])), default=None),
    )
    return row


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    if isinstance(value, list):
        return "+".join(map(str, value))
    return str(value)


def markdown(rows: list[dict[str, Any]]) -> str:
    varying = [key for key in OPTION_KEYS if len({json.dumps(row[key]) for row in rows}) > 1] or ["recipe"]
    train_keys = ["latent", "prediction", "mse_masked"]
    shown_train = [key for key in train_keys if any(key in row["train"] for row in rows)]
    header = ["run", *varying, "seed", "steps", "wall s", *(f"train {k}" for k in shown_train)]
    header += ["PSNR", "per-image-mean PSNR", "SSIM", "colour shift", "hole PSNR", "masked-image PSNR"]
    header += ["k-NN@5", "linear", "RankMe"]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for row in rows:
        steps = str(row["steps"]) + (f" + {row['probe_steps']}" if "probe_steps" in row else "")
        wall = f"{row['wall_s']:.0f}" + (f" + {row['probe_wall_s']:.0f}" if "probe_wall_s" in row else "")
        cells = [row["run"], *(_fmt(row[k]) for k in varying), str(row["seed"]), steps, wall]
        cells += [_fmt(row["train"].get(k), 3) for k in shown_train]
        cells += [_fmt(row["psnr"]), _fmt(row["mean_psnr"]), _fmt(row["ssim"], 3), _fmt(row["colour_shift"], 4)]
        cells += [_fmt(row["hole_psnr"]), _fmt(row["masked_psnr"])]
        cells += [_fmt(row["knn5"], 4), _fmt(row["linear"], 4), _fmt(row["rankme"], 0)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def holes_markdown(folders: list[Path]) -> str:
    """Table h: clean and holed-input metrics of each run's eval.json, the mean-colour fill as the floor."""
    header = ["model", "clean PSNR", "clean SSIM"]
    for kind in HOLE_KINDS:
        header += [f"{kind}: hole PSNR", "hole SSIM", "image PSNR", "image SSIM"]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    evaluations = [(folder.name, json.loads((folder / "eval.json").read_text())) for folder in folders]
    rows = [(name, evaluation, "model") for name, evaluation in evaluations]
    rows.append(("mean-colour fill (floor)", evaluations[0][1], "mean_fill"))
    for name, evaluation, fill in rows:
        if fill == "model":
            clean = evaluation["reconstruction"]
            cells = [name, _fmt(clean["psnr"]), _fmt(clean["ssim"], 3)]
        else:
            cells = [name, "–", "–"]
        for kind in HOLE_KINDS:
            scores = evaluation["holes"][kind][fill]
            cells += [_fmt(scores["psnr_hole"]), _fmt(scores["ssim_hole"], 3)]
            cells += [_fmt(scores["psnr_total"]), _fmt(scores["ssim_total"], 3)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def curves_markdown(folders: list[Path]) -> str:
    """Equal-step curves: each run's training-time evaluations (clean PSNR / PSNR inside a centred 25 % hole)."""
    curves = {}
    for folder in folders:
        rows = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines() if line.strip()]
        curves[folder.name] = {row["step"]: row for row in rows if "eval_psnr" in row}
        final = json.loads((folder / "final_metrics.json").read_text())
        curves[folder.name][final["steps"]] = {f"eval_{key}": value for key, value in final.items()}
    steps = sorted(set().union(*curves.values()))
    first = curves[folders[0].name]
    header = ["step", *(f"{name}: clean / hole PSNR" for name in curves), "mean-colour fill: hole PSNR"]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for step in steps:
        cells = [str(step)]
        for curve in curves.values():
            row = curve.get(step, {})
            cells.append(f"{_fmt(row.get('eval_psnr'))} / {_fmt(row.get('eval_hole_psnr'))}")
        cells.append(_fmt(first.get(step, {}).get("eval_hole_baseline_psnr")))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path, help="run folders with eval.json")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    parser.add_argument("--holes", action="store_true", help="print the inpainting tables (table h) instead")
    args = parser.parse_args()
    if args.holes:
        print(holes_markdown(args.runs) + "\n\n" + curves_markdown(args.runs))
        return
    rows = [run_row(folder) for folder in args.runs]
    print(markdown(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
