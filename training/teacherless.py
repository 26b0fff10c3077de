"""Teacherless seq-JEPA lab (issue 16): run experiments A–E and the reference from configs, then tabulate and plot.

    python training/teacherless.py run training/configs/teacherless/mnist-*.yaml --seeds 0 1 2
    python training/teacherless.py run training/configs/teacherless/mnist-A.yaml --untrained --seeds 0 1 2
    python training/teacherless.py summarise [--out docs/teacherless]
    python training/teacherless.py time training/configs/teacherless/author-mf-resnet-ref.yaml --resnet-widths 16 8 6

`run` trains each config for each seed and writes OUT/runs/<name>/seed<k>.json (config, loss history, metrics; the
figure data for seed 0 only); a run whose JSON exists is skipped, so an interrupted batch resumes where it stopped.
`--untrained` evaluates the config's model as initialised, as `<name>-untrained` (0 steps), and adds the floors of
the class probe on raw pixels: of the identity view and of one transformed view. With `eval.online_probes`, the
record also holds the online probes' numbers of every epoch ("online") and those of the last epoch among the metrics.
`summarise` reads every run JSON, writes OUT/summary.json (mean and population std over seeds), OUT/tables.md and the
figures under OUT/figures/. `time` measures seconds per training step of each config (at each ResNet width given) and
writes OUT/timing.json. One intra-op thread (set OMP_NUM_THREADS=1 and run under nice on a shared machine).
See docs/teacherless.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import statistics
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
import yaml  # noqa: E402

from leae_hub.evaluation import linear_probe_accuracy  # noqa: E402
from leae_hub.lab.runner import markdown_table, run_experiment, settings_from_flags, write_json, write_text  # noqa: E402
from leae_hub.lab.teacherless import ExperimentConfig, RunBatch, Trainer  # noqa: E402
from leae_hub.lab.teacherless_data import load_cifar10, load_mnist, make_sequences  # noqa: E402
from leae_hub.lab.teacherless_metrics import evaluate  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("class_acc_inv", "class acc. z_inv %", 100),
    ("rotation_r2", "rotation R²", 1),
    ("action_r2_mean", "action R² (mean)", 1),
    ("invariance_error", "inv. error", 1),
    ("rotation_share", "Δz var. in top-2 (rot.) %", 100),
    ("effective_rank_inv", "eff. rank z_inv", 1),
    ("effective_rank_eq", "eff. rank z_eq", 1),
    ("class_leakage_eq", "class acc. z_eq %", 100),
    ("train_seconds", "train wall s", 1),
)
ONLINE_COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("online_linacc_test", "online class acc. z_inv % (val)", 1),
    ("online_r2_test", "online action R² [z_0; z_1] (val)", 1),
    ("leakage_linacc_test", "online class acc. z_0 % (val)", 1),
    ("leakage_r2_test", "online action R² z_inv (val)", 1),
    ("online_linacc_train", "online class acc. z_inv % (train)", 1),
    ("online_r2_train", "online action R² (train)", 1),
)
AUTHOR_COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("online_linacc_test", "online class acc. z_inv % (val)", 1),
    ("online_r2_test", "online action R² (val)", 1),
    ("leakage_linacc_test", "online class acc. z_0 % (val)", 1),
    ("class_acc_inv", "offline class acc. z_inv %", 100),
    ("action_r2_mean", "offline action R² (mean)", 1),
)
# The seed author's logged numbers at epoch 20 of their only MNIST runs (experiment A, ResNet-18 of width 64, one run
# per mode), by data mode: kaikun213/seq-jepa at 780107d, docs/experiments/step-2-mnist-subspace.md:22-36 (the online
# probes on the validation digits) and :89 (the class leakage into z_0, logged as "leakage_linacc" without saying
# whether of the training batches or the validation digits).
AUTHOR_LOGGED: dict[str, dict[str, float]] = {
    "affine": {"online_linacc_test": 16.2, "online_r2_test": 0.466, "leakage_linacc_test": 55.4},
    "rotation": {"online_linacc_test": 35.0, "online_r2_test": 0.033},
}
FACTOR_PREFIXES: tuple[tuple[str, str, int], ...] = (
    ("group_r2.", "group R²", 1),
    ("delta_variance_share.", "Δz var. in top-k %", 100),
    ("principal_angles_deg.", "smallest principal angle °", 1),
)


def load_config(path: Path) -> ExperimentConfig:
    with open(path) as handle:
        return ExperimentConfig.from_dict(yaml.safe_load(handle))


def load_data(config: ExperimentConfig, seed: int) -> dict[str, Any]:
    """The training images and labels of the SSL run ("train"), the validation set ("validation", None without
    `data.num_val`), and the (images, labels) of the offline probes' train and test sets ("probe_train",
    "probe_test"; the test set is the validation set's first `eval.num_probe_test` when there is one)."""
    data = config.data
    root = Path(data.root)
    root = root if root.is_absolute() else ROOT / root
    author_draw = data.subset_seed is not None
    draw = data.subset_seed if author_draw else seed
    validation = None
    if data.dataset == "cifar10":
        if data.num_val or author_draw:
            raise ValueError("data.num_val and data.subset_seed are for MNIST only: remove them from a cifar10 config")
        train = load_cifar10(root, "train", limit=data.num_train, seed=seed)
        test = load_cifar10(root, "test", limit=config.eval.num_probe_test, seed=seed)
    else:
        train = load_mnist(root, "train", limit=data.num_train, seed=draw, author_draw=author_draw)
        if data.num_val:
            validation = load_mnist(root, "t10k", limit=data.num_val, seed=draw + 1, author_draw=author_draw)
            test = (validation[0][: config.eval.num_probe_test], validation[1][: config.eval.num_probe_test])
        else:
            test = load_mnist(root, "t10k", limit=config.eval.num_probe_test, seed=seed)
    probe = config.eval.num_probe_train
    return {
        "train": train,
        "validation": validation,
        "probe_train": (train[0][:probe], train[1][:probe]),
        "probe_test": test,
    }


def run_one(config: ExperimentConfig, seed: int) -> dict[str, Any]:
    """Train and evaluate one config at one seed; return its JSON record."""
    start, cpu_start = time.perf_counter(), time.process_time()
    data = load_data(config, seed)
    probe_train, probe_test = data["probe_train"], data["probe_test"]
    images, labels = data["train"]
    trainer = Trainer(config, images, seed, labels=labels, validation=data["validation"])
    fit = trainer.fit(log=lambda step, terms: print(f"  {config.name} s{seed} step {step}: {terms}", flush=True))
    metrics = evaluate(
        trainer.model, trainer.family, config.data.num_views, probe_train, probe_test, config.eval.probe_steps, seed
    )
    figure = metrics.pop("figure")
    record = {
        "name": config.name,
        "seed": seed,
        "config": config.to_dict(),
        "metrics": {
            **metrics,
            "train_seconds": fit["train_seconds"],
            "total_seconds": time.perf_counter() - start,
            "cpu_seconds": time.process_time() - cpu_start,
        },
        "history": fit["history"],
        "torch": torch.__version__,
    }
    if fit["online"]:
        last = {k: v for k, v in fit["online"][-1].items() if k not in ("epoch", "step")}
        record["metrics"].update({**last, "online_seconds": fit["online_seconds"]})
        record["online"] = fit["online"]
    if config.train.steps == 0:
        record["metrics"].update(pixel_floors(trainer, probe_train, probe_test, config.data.num_views, seed))
    if seed == 0:
        record["figure"] = figure
    return record


def pixel_floors(trainer: Trainer, train: tuple, test: tuple, num_views: int, seed: int) -> dict[str, float]:
    """Class-probe accuracy on raw pixels, with the evaluation's probe sets: of the identity view and of view 1 (one
    draw of the config's transforms), the floors against which `class_acc_inv` and `class_leakage_eq` read."""
    generator = torch.Generator().manual_seed(20_000 + seed)
    (train_x, train_y), (test_x, test_y) = train, test
    views_train = make_sequences(train_x, trainer.family, num_views, generator)[0][:, 1]
    views_test = make_sequences(test_x, trainer.family, num_views, generator)[0][:, 1]
    identity_train, identity_test = trainer.family.frame(train_x).flatten(1), trainer.family.frame(test_x).flatten(1)
    return {
        "pixels_class_acc_identity": linear_probe_accuracy(identity_train, train_y, identity_test, test_y),
        "pixels_class_acc_view": linear_probe_accuracy(views_train.flatten(1), train_y, views_test.flatten(1), test_y),
    }


def untrained(config: ExperimentConfig) -> ExperimentConfig:
    """The config's model evaluated as initialised: `<name>-untrained`, 0 training steps."""
    return dataclasses.replace(
        config, name=f"{config.name}-untrained", train=dataclasses.replace(config.train, steps=0)
    )


def flat_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """Scalar metrics, nested dicts flattened to 'outer.inner', principal angles reduced to their smallest."""
    flat: dict[str, float] = {}
    for key, value in metrics.items():
        if isinstance(value, dict):
            for inner, number in value.items():
                flat[f"{key}.{inner}"] = min(number) if isinstance(number, list) else number
        else:
            flat[key] = value
    if "delta_variance_share.rotation" in flat:
        flat["rotation_share"] = flat["delta_variance_share.rotation"]
    return flat


def summarise(out: Path) -> dict[str, Any]:
    """Mean and population std over seeds of every metric of every run under OUT/runs; tables and figures."""
    records: dict[str, list[dict[str, Any]]] = {}
    for path in sorted((out / "runs").glob("*/seed*.json")):
        record = json.loads(path.read_text())
        records.setdefault(record["name"], []).append(record)
    if not records:
        raise FileNotFoundError(f"no run JSON under {out / 'runs'}; run `python training/teacherless.py run ...` first")
    summary = {}
    for name, runs in records.items():
        per_seed = [flat_metrics(r["metrics"]) for r in runs]
        keys = set.intersection(*(set(m) for m in per_seed))
        summary[name] = {
            "seeds": [r["seed"] for r in runs],
            "config": runs[0]["config"],
            "metrics": {
                k: {
                    "mean": statistics.fmean(m[k] for m in per_seed),
                    "std": statistics.pstdev([m[k] for m in per_seed]),
                }
                for k in sorted(keys)
            },
        }
    write_json(out / "summary.json", summary)
    write_text(out / "tables.md", tables(summary))
    plot(records, out / "figures")
    return summary


def digits(mean: float, scale: int) -> int:
    """Decimals a table shows for a value: one for percentages and values of 10 or more, else three."""
    return 1 if scale == 100 or mean >= 10 else 3


def cell(stats: dict[str, float] | None, scale: int) -> str:
    if stats is None or not math.isfinite(stats["mean"]):
        return "–"
    places = digits(stats["mean"], scale)
    return f"{scale * stats['mean']:.{places}f} ± {scale * stats['std']:.{places}f}"


def tables(summary: dict[str, Any]) -> str:
    """One markdown table per dataset/mode: a row per config (mean ± std over its seeds)."""
    groups: dict[str, list[str]] = {}
    for name, entry in summary.items():
        data = entry["config"]["data"]
        groups.setdefault(f"{data['dataset']} / {data['mode']}", []).append(name)
    lines = []
    for group, names in groups.items():
        lines += [f"### {group}", ""]
        header = ["config", "seeds", "steps", "λ", *(label for _, label, _ in COLUMNS)]
        rows = [
            [
                name,
                str(len(summary[name]["seeds"])),
                str(summary[name]["config"]["train"]["steps"]),
                f"{summary[name]['config']['loss']['lambda_rate']:g}",
                *(cell(summary[name]["metrics"].get(key), scale) for key, _, scale in COLUMNS),
            ]
            for name in sorted(names)
        ]
        lines += [*markdown_table(header, rows), ""]
        lines += factor_table(summary, sorted(names))
        lines += online_table(summary, sorted(names))
    return "\n".join(lines + author_tables(summary))


def author_tables(summary: dict[str, Any]) -> list[str]:
    """Per MNIST mode, the `author-*` runs (mean ± std over seeds) under the seed author's logged numbers: the online
    probes as they report them and the offline probes, the untrained models and the raw identity-view pixels below."""
    lines: list[str] = []
    for mode, logged in AUTHOR_LOGGED.items():
        names = sorted(
            (n for n, e in summary.items() if n.startswith("author-") and e["config"]["data"]["mode"] == mode),
            key=lambda n: (n.endswith("-untrained"), "-resnet-" in n, n),
        )
        if not names:
            continue
        header = ["run", "encoder", "seeds", *(label for _, label, _ in AUTHOR_COLUMNS)]
        cells = [f"{logged[key]:.{digits(logged[key], 1)}f}" if key in logged else "–" for key, *_ in AUTHOR_COLUMNS]
        rows = [["the seed author's A, epoch 20", "ResNet-18, width 64", "1", *cells]]
        for name in names:
            model = summary[name]["config"]["model"]
            encoder = (
                f"ResNet-18, width {model['resnet_width']}" if model["encoder"] == "resnet18" else model["encoder"]
            )
            metrics = summary[name]["metrics"]
            cells = [cell(metrics.get(key), scale) for key, _, scale in AUTHOR_COLUMNS]
            rows.append([name, encoder, str(len(summary[name]["seeds"])), *cells])
        floors = [summary[n] for n in names if "pixels_class_acc_identity" in summary[n]["metrics"]]
        if floors:
            pixels = {"class_acc_inv": cell(floors[0]["metrics"]["pixels_class_acc_identity"], 100)}
            cells = [pixels.get(key, "–") for key, _, _ in AUTHOR_COLUMNS]
            rows.append(["raw pixels, identity view", "–", str(len(floors[0]["seeds"])), *cells])
        lines += [f"### the seed author's budget: MNIST / {mode}", "", *markdown_table(header, rows), ""]
    return lines


def online_table(summary: dict[str, Any], names: list[str]) -> list[str]:
    """The online probes' last-epoch numbers, as the seed author reports them, of the configs that have them."""
    names = [name for name in names if "online_linacc_test" in summary[name]["metrics"]]
    if not names:
        return []
    header = ["config", *(label for _, label, _ in ONLINE_COLUMNS)]
    rows = [
        [name, *(cell(summary[name]["metrics"].get(key), scale) for key, _, scale in ONLINE_COLUMNS)] for name in names
    ]
    return [*markdown_table(header, rows), ""]


def factor_table(summary: dict[str, Any], names: list[str]) -> list[str]:
    """Per-factor metrics (group probes, Δz variance share, principal angles between factor subspaces) per config."""
    keys = [
        (key, f"{label} {key.removeprefix(prefix).replace('|', ' vs ')}", scale)
        for prefix, label, scale in FACTOR_PREFIXES
        for key in sorted(summary[names[0]]["metrics"])
        if key.startswith(prefix)
    ]
    header = ["config", *(label for _, label, _ in keys)]
    rows = [[name, *(cell(summary[name]["metrics"].get(key), scale) for key, _, scale in keys)] for name in names]
    return [*markdown_table(header, rows), ""]


def plot(records: dict[str, list[dict[str, Any]]], folder: Path) -> None:
    """Per config (seed 0): the rotation circle and the sweep trajectories; per dataset: the eigen-spectra."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    spectra: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for name, runs in sorted(records.items()):
        figure = next((r["figure"] for r in runs if "figure" in r), None)
        if figure is None:
            continue
        data = runs[0]["config"]["data"]
        spectra.setdefault(f"{data['dataset']}-{data['mode']}", []).append((name, figure))
        fig, axes = plt.subplots(1, 2, figsize=(9, 4.2))
        xy = torch.tensor(figure["circle_xy"])
        points = axes[0].scatter(xy[:, 0], xy[:, 1], c=figure["circle_angle_deg"], cmap="twilight", s=6)
        fig.colorbar(points, ax=axes[0], label="rotation (deg)")
        axes[0].set_title(f"{name}: rotation Δz on its top-2 PCs")
        for trajectory in figure["sweep_xy"]:
            path = torch.tensor(trajectory)
            axes[1].plot(path[:, 0], path[:, 1], "-", lw=1)
            axes[1].scatter(path[:, 0], path[:, 1], c=figure["sweep_angle_deg"], cmap="twilight", s=10)
        axes[1].set_title("five test images through a rotation sweep")
        for ax in axes:
            ax.set_xlabel("PC 1")
            ax.set_ylabel("PC 2")
        fig.tight_layout()
        fig.savefig(folder / f"{name}-rotation.png", dpi=90)
        plt.close(fig)
    for group, entries in spectra.items():
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.8), sharey=True)
        for name, figure in entries:
            for ax, key in zip(axes, ("spectrum_eq", "spectrum_inv"), strict=True):
                values = torch.tensor(figure[key]).clamp_min(1e-8)
                ax.semilogy(range(1, len(values) + 1), values, label=name)
        axes[0].set_title(f"{group}: eigen-spectrum of z_eq")
        axes[1].set_title("eigen-spectrum of z_inv")
        for ax in axes:
            ax.set_xlabel("component")
        axes[0].set_ylabel("share of variance")
        axes[1].legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(folder / f"{group}-spectra.png", dpi=90)
        plt.close(fig)


def run_batch(batch: RunBatch) -> None:
    """Every run of `batch`, seed by seed; a finished run (its JSON exists) is skipped unless `batch.force`."""
    configs = [load_config(Path(path)) for path in batch.configs]
    if batch.untrained:
        configs = [untrained(config) for config in configs]
    for seed in batch.seeds:
        for config in configs:
            path = Path(batch.out) / "runs" / config.name / f"seed{seed}.json"
            if path.exists() and not batch.force:
                print(f"skip {config.name} seed {seed}: done", flush=True)
                continue
            record = run_experiment(lambda config=config, seed=seed: run_one(config, seed), path)
            shown = {k: v for k, v in record["metrics"].items() if not isinstance(v, dict)}
            print(f"{config.name} seed {seed}: {json.dumps(shown)}", flush=True)


def time_steps(paths: list[str], steps: int, widths: list[int], warmup: int = 2) -> list[dict[str, Any]]:
    """Wall seconds per training step (online probes' updates included; their per-epoch validation and the final
    evaluation not) of each config at seed 0, timed over `steps` steps after `warmup`; a ResNet config once per width
    in `widths` (embed_dim = 8 × width), or at its own width when none is given. "run_minutes" scales the mean step to
    the config's `train.steps`."""
    rows = []
    for path in paths:
        config = load_config(Path(path))
        variants = [config]
        if config.model.encoder == "resnet18" and widths:
            variants = [
                dataclasses.replace(config, model=dataclasses.replace(config.model, resnet_width=w, embed_dim=8 * w))
                for w in widths
            ]
        data = load_data(config, 0)  # the variants differ in their model only
        images, labels = data["train"]
        for variant in variants:
            trainer = Trainer(variant, images, 0, labels=labels, validation=data["validation"])
            trainer.model.train()
            for _ in range(warmup):
                trainer.step()
            start = time.perf_counter()
            for _ in range(steps):
                trainer.step()
            seconds = (time.perf_counter() - start) / steps
            rows.append(
                {
                    "config": variant.name,
                    "encoder": variant.model.encoder,
                    "resnet_width": variant.model.resnet_width if variant.model.encoder == "resnet18" else None,
                    "encoder_parameters": sum(p.numel() for p in trainer.model.encoder.parameters()),
                    "steps_timed": steps,
                    "seconds_per_step": seconds,
                    "run_minutes": seconds * variant.train.steps / 60,
                    "threads": torch.get_num_threads(),
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    return rows


def timing_table(rows: list[dict[str, Any]]) -> str:
    """The rows of `time_steps` as a markdown table."""
    lines = [
        "| config | encoder | encoder parameters | s / step | training only, the config's steps (min) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        encoder = row["encoder"] + (f", width {row['resnet_width']}" if row["resnet_width"] else "")
        lines.append(
            f"| `{row['config']}` | {encoder} | {row['encoder_parameters']:,} | {row['seconds_per_step']:.3f} "
            f"| {row['run_minutes']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="train and evaluate configs over seeds")
    p_run.add_argument("configs", nargs="+")
    p_run.add_argument("--seeds", nargs="+", type=int, default=list(RunBatch.seeds))
    p_run.add_argument("--out", default=str(ROOT / RunBatch.out))
    p_run.add_argument("--force", action="store_true", help="rerun runs whose JSON exists")
    p_run.add_argument("--untrained", action="store_true", help="evaluate the models as initialised (0 steps)")
    p_sum = sub.add_parser("summarise", help="tables and figures from the run JSON")
    p_sum.add_argument("--out", type=Path, default=ROOT / RunBatch.out)
    p_time = sub.add_parser("time", help="seconds per training step of each config")
    p_time.add_argument("configs", nargs="+")
    p_time.add_argument("--steps", type=int, default=12, help="steps timed, after 2 warm-up steps")
    p_time.add_argument("--resnet-widths", nargs="*", type=int, default=[], help="time a ResNet config at each width")
    p_time.add_argument("--out", type=Path, default=ROOT / RunBatch.out)
    args = parser.parse_args(argv)
    if args.command == "time":
        rows = time_steps(args.configs, args.steps, args.resnet_widths)
        write_json(args.out / "timing.json", rows)
        print(timing_table(rows))
    elif args.command == "summarise":
        print(tables(run_experiment(lambda: summarise(args.out))))
    else:
        run_batch(settings_from_flags(RunBatch, args))


if __name__ == "__main__":
    main()
