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

from leae_hub.evaluation import HOLE_KINDS, Unavailable
from leae_hub.evaluation.schema import (
    BASELINE_PSNR,
    COLOUR_SHIFT,
    HOLE_PSNR,
    HOLE_SCORES,
    KNN_5,
    LINEAR_PROBE,
    PSNR,
    RANKME,
    SSIM,
    TOTAL_PSNR,
    Metric,
    hole_metric,
)
from leae_hub.lab.runner import markdown_table

OPTION_KEYS = ("recipe", "views", "judge", "judge_norm", "hole_ratio", "target", "regularizer", "mixed_precision")
# The test-split metrics of a row (its keys, in the order of the rows' JSON), and the order of their columns.
EVALUATION = {
    "psnr": PSNR,
    "ssim": SSIM,
    "mean_psnr": BASELINE_PSNR,
    "hole_psnr": HOLE_PSNR,
    "masked_psnr": TOTAL_PSNR,
    "knn5": KNN_5,
    "linear": LINEAR_PROBE,
    "rankme": RANKME,
    "colour_shift": COLOUR_SHIFT,
}
COLUMNS = ("psnr", "mean_psnr", "ssim", "colour_shift", "hole_psnr", "masked_psnr", "knn5", "linear", "rankme")


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
    row.update({key: _value(evaluation, item) for key, item in EVALUATION.items()})
    row["colour_shift"] = max((abs(e) for e in row["colour_shift"] or []), default=None)
    return row


def _value(evaluation: dict[str, Any], item: Metric) -> Any:
    """A metric of an eval.json, None where it is absent (its reason, under "unavailable", is not shown)."""
    value = item.value(evaluation)
    return None if isinstance(value, Unavailable) else value


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
    header += [EVALUATION[key].short for key in COLUMNS]
    table = []
    for row in rows:
        steps = str(row["steps"]) + (f" + {row['probe_steps']}" if "probe_steps" in row else "")
        wall = f"{row['wall_s']:.0f}" + (f" + {row['probe_wall_s']:.0f}" if "probe_wall_s" in row else "")
        cells = [row["run"], *(_fmt(row[k]) for k in varying), str(row["seed"]), steps, wall]
        cells += [_fmt(row["train"].get(k), 3) for k in shown_train]
        cells += [_fmt(row[key], EVALUATION[key].table_decimals) for key in COLUMNS]
        table.append(cells)
    return "\n".join(markdown_table(header, table))


def holes_markdown(folders: list[Path]) -> str:
    """Table h: clean and holed-input metrics of each run's eval.json, the mean-colour fill as the floor."""
    header = ["model", f"clean {PSNR.short}", f"clean {SSIM.short}"]
    for kind in HOLE_KINDS:
        header += [f"{kind}: {HOLE_SCORES[0].short}", *(score.short for score in HOLE_SCORES[1:])]
    table = []
    evaluations = [(folder.name, json.loads((folder / "eval.json").read_text())) for folder in folders]
    rows = [(name, evaluation, "model") for name, evaluation in evaluations]
    rows.append(("mean-colour fill (floor)", evaluations[0][1], "mean_fill"))
    for name, evaluation, fill in rows:
        if fill == "model":
            cells = [name, *(_fmt(_value(evaluation, item), item.table_decimals) for item in (PSNR, SSIM))]
        else:
            cells = [name, "–", "–"]
        for kind in HOLE_KINDS:
            scores = (hole_metric(kind, fill, score) for score in HOLE_SCORES)
            cells += [_fmt(_value(evaluation, item), item.table_decimals) for item in scores]
        table.append(cells)
    return "\n".join(markdown_table(header, table))


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
    table = []
    for step in steps:
        cells = [str(step)]
        for curve in curves.values():
            row = curve.get(step, {})
            cells.append(f"{_fmt(row.get('eval_psnr'))} / {_fmt(row.get('eval_hole_psnr'))}")
        cells.append(_fmt(first.get(step, {}).get("eval_hole_baseline_psnr")))
        table.append(cells)
    return "\n".join(markdown_table(header, table))


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
