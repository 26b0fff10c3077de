"""The JEPA lab: the seed's 2-D mixture experiments and its noisy-TV world model, measured over seeds.

    python training/lab.py mog [--methods energy dsm ...] [--seeds 0 1 2] [--out docs/lab]
    python training/lab.py noisy-tv [--sigmas 0 2 4 8 10] [--seeds 0 1 2] [--out docs/lab]
    python training/lab.py noisy-tv-table [--json docs/lab/noisy_tv.json]   # the seed comparison, no training

Each command writes its figures under OUT/mog/ or OUT/noisy_tv/, its numbers to OUT/mog.json or OUT/noisy_tv.json
(every seed, plus mean and std), and prints (and writes to OUT/*_table.md) markdown tables of mean ± std over seeds.
One intra-op thread, as everything here is many small tensor operations. See docs/lab.md for the results.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from leae_hub.lab import mog, noisy_tv  # noqa: E402
from leae_hub.lab.runner import markdown_table, run_experiment, settings_from_flags, write_text  # noqa: E402

MOG_COLUMNS: tuple[tuple[str, str], ...] = (
    ("final_loss", "final loss"),
    ("emb_std", "emb. std"),
    ("rankme", "eff. rank"),
    ("knn", "5-NN acc."),
    ("cos_gap", "cos gap (same − diff.)"),
    ("masked_knn", "masked 5-NN acc."),
    ("train_seconds", "train s"),
)
DSM_COLUMNS: tuple[tuple[str, str], ...] = (
    ("score_rel_err_smoothed", "rel. score err. vs p_σ"),
    ("score_rel_err_unsmoothed", "rel. score err. vs p"),
    ("mmd_samples", "MMD² samples↔p"),
    ("mmd_samples_vs_smoothed", "MMD² samples↔p_σ"),
    ("mmd_exact_langevin", "MMD² exact-score Langevin↔p"),
    ("mmd_reference", "MMD² p↔p (reference)"),
)


def mean_std(values: list[float], digits: int = 3) -> str:
    """'mean ± std' (population std over seeds)."""
    return f"{statistics.fmean(values):.{digits}f} ± {statistics.pstdev(values):.{digits}f}"


def summarise(per_seed: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    keys = per_seed[0].keys()
    return {
        k: {"mean": statistics.fmean(r[k] for r in per_seed), "std": statistics.pstdev([r[k] for r in per_seed])}
        for k in keys
    }


def table(header: list[str], rows: list[list[str]]) -> str:
    return "\n".join(markdown_table(header, rows))


def run_mog(sweep: mog.MogSweep) -> dict:
    """Train and measure every method at every seed; the figures, the table, and the JSON's payload."""
    from leae_hub.lab import plots

    out = Path(sweep.out)
    figures = out / "mog"
    figures.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    results: dict[str, list[dict[str, float]]] = {}
    for name in sweep.methods:
        results[name] = []
        for seed in sweep.seeds:
            t0 = time.perf_counter()
            run = mog.train(name, seed, sweep.steps)
            metrics = mog.evaluate(run)
            if seed == sweep.seeds[0] and not sweep.no_figures:
                title = f"{name} (seed {seed}, {len(run.losses)} steps)"
                plots.save_landscape_png(run.model, run.data, figures / f"{name}.png", title, run.samples)
                plots.save_landscape_gif(run.model, run.data, figures / f"{name}.gif", name, seed)
            metrics["wall_seconds"] = time.perf_counter() - t0
            results[name].append(metrics)
            print(f"{name} seed {seed}: " + ", ".join(f"{k} {v:.4g}" for k, v in metrics.items()), file=sys.stderr)
    elapsed = time.perf_counter() - start
    rows = [[name] + [mean_std([r[k] for r in runs]) for k, _ in MOG_COLUMNS] for name, runs in results.items()]
    bayes = statistics.fmean(r["bayes_acc"] for runs in results.values() for r in runs)
    bayes_masked = statistics.fmean(r["bayes_masked_acc"] for runs in results.values() for r in runs)
    text = table(["method"] + [label for _, label in MOG_COLUMNS], rows)
    text += f"\n\nBayes accuracy: {bayes:.3f} from (x, y); {bayes_masked:.3f} from one coordinate (mean of the two)."
    energy_rows = [
        [name] + [mean_std([r[k] for r in runs], 4) for k, _ in DSM_COLUMNS]
        for name, runs in results.items()
        if "mmd_samples" in runs[0]
    ]
    if energy_rows:
        text += "\n\n" + table(["method"] + [label for _, label in DSM_COLUMNS], energy_rows)
    text += f"\n\nseeds {list(sweep.seeds)}, {elapsed:.0f} s in all"
    print(text)
    write_text(out / "mog_table.md", text + "\n")
    return {
        "command": " ".join(["python", "training/lab.py", *sys.argv[1:]]),
        "seeds": list(sweep.seeds),
        "steps": {name: sweep.steps or mog.STEPS[name] for name in sweep.methods},
        "seconds": elapsed,
        "per_seed": results,
        "summary": {name: summarise(runs) for name, runs in results.items()},
    }


def run_noisy_tv(sweep: noisy_tv.NoisyTVSweep) -> dict:
    """The σ × seed sweep of every model; the figures, the tables, and the JSON's payload."""
    from leae_hub.lab import plots

    out = Path(sweep.out)
    figures = out / "noisy_tv"
    figures.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    results, train_seconds = noisy_tv.run_sweep(list(sweep.sigmas), list(sweep.seeds), sweep.steps, sweep.models)
    r2 = {name: {s: [r.r2[name] for r in results if r.sigma == s] for s in sweep.sigmas} for name in sweep.models}
    per_run = [
        {
            "sigma": r.sigma,
            "seed": r.seed,
            "snr_db": r.snr_db,
            "r2": r.r2,
            "r2_current": r.r2_current,
            "oracle": r.oracle,
            "final_loss": r.final_loss,
        }
        for r in results
    ]
    shown = [r for r in results if r.seed == sweep.seeds[0] and r.sigma in (min(sweep.sigmas), sweep.plot_sigma)]
    if not sweep.no_figures:
        for r in shown:
            plots.save_series(r, figures / f"series_sigma{r.sigma:g}.png")
        plots.save_r2_vs_sigma(r2, figures / "r2_vs_sigma.png")
        plots.save_phase_plane(shown, figures / "phase_plane.png")
    elapsed = time.perf_counter() - start

    def cell(sigma: float, key: str, name: str | None = None) -> str:
        runs = [r for r in per_run if r["sigma"] == sigma]
        return mean_std([r[key][name] if name else r[key] for r in runs], 2)

    header = ["σ", "SNR dB"] + list(sweep.models) + ["true s_t", "raw x_t"]
    rows = [
        [f"{sigma:g}", cell(sigma, "snr_db")]
        + [cell(sigma, "r2", name) for name in sweep.models]
        + [cell(sigma, "oracle", "true_state"), cell(sigma, "oracle", "raw_x")]
        for sigma in sweep.sigmas
    ]
    text = "Test R² of s_{t+1} read out linearly from each latent at t:\n\n" + table(header, rows)
    rows_current = [
        [f"{sigma:g}"] + [cell(sigma, "r2_current", name) for name in sweep.models] for sigma in sweep.sigmas
    ]
    text += "\n\nTest R² of s_t from the same latents:\n\n" + table(["σ"] + list(sweep.models), rows_current)
    text += f"\n\nseeds {list(sweep.seeds)}, {sweep.steps} steps, {elapsed:.0f} s in all"
    print(text)
    write_text(out / "noisy_tv_table.md", text + "\n")
    write_seed_comparison(per_run, sweep.models, out / "noisy_tv_seed_table.md")
    return {
        "command": " ".join(["python", "training/lab.py", *sys.argv[1:]]),
        "seeds": list(sweep.seeds),
        "sigmas": list(sweep.sigmas),
        "steps": sweep.steps,
        "seconds": elapsed,
        "train_seconds": train_seconds,
        "runs": per_run,
    }


def write_seed_comparison(per_run: list[dict], models: list[str], path: Path) -> str:
    """Markdown: at every σ of the sweep that the seed's figure has, each model's R² of s_{t+1} in the seed's single
    run against ours (mean ± std over seeds, and every seed's own value); printed and written to `path`."""
    rows = []
    for name in models:
        for sigma in sorted({r["sigma"] for r in per_run}):
            if sigma != int(sigma) or not 0 <= sigma < len(noisy_tv.SEED_FIGURE_R2[name]):
                continue
            values = [r["r2"][name] for r in sorted(per_run, key=lambda r: r["seed"]) if r["sigma"] == sigma]
            rows.append(
                [
                    name,
                    f"{sigma:g}",
                    f"{noisy_tv.SEED_FIGURE_R2[name][int(sigma)]:.2f}",
                    mean_std(values, 2),
                    ", ".join(f"{value:.2f}" for value in values),
                ]
            )
    header = ["model", "σ", "seed's figure (1 run)", "ours, mean ± std", "ours, each seed"]
    text = "Test R² of s_{t+1}, the seed's figure against ours, σ by σ:\n\n" + table(header, rows)
    print(text)
    write_text(path, text + "\n")
    return text


def run_noisy_tv_table(path: str) -> dict:
    """Re-render the seed comparison from a sweep's JSON at `path`, without training; returns that JSON."""
    payload = json.loads(Path(path).read_text())
    models = [name for name in noisy_tv.MODELS if name in payload["runs"][0]["r2"]]
    write_seed_comparison(payload["runs"], models, Path(path).with_name("noisy_tv_seed_table.md"))
    return payload


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="family", required=True)
    p_mog = sub.add_parser("mog", help="the 2-D mixture of Gaussians")
    p_mog.add_argument("--methods", nargs="+", default=list(mog.MogSweep.methods), choices=mog.METHODS)
    p_mog.add_argument(
        "--steps", type=int, default=mog.MogSweep.steps, help="optimiser steps (default: per method, mog.STEPS)"
    )
    p_tv = sub.add_parser("noisy-tv", help="the noisy-TV linear world model")
    p_tv.add_argument("--sigmas", nargs="+", type=float, default=list(noisy_tv.NoisyTVSweep.sigmas))
    p_tv.add_argument("--models", nargs="+", default=list(noisy_tv.NoisyTVSweep.models), choices=noisy_tv.MODELS)
    p_tv.add_argument(
        "--steps", type=int, default=noisy_tv.NoisyTVSweep.steps, help="full-batch Adam steps (the seed's 10,000)"
    )
    p_tv.add_argument(
        "--plot-sigma",
        type=float,
        default=noisy_tv.NoisyTVSweep.plot_sigma,
        help="σ of the time-series and phase-plane figures",
    )
    p_table = sub.add_parser("noisy-tv-table", help="the seed comparison of a noisy-TV sweep, from its JSON")
    p_table.add_argument("--json", default="docs/lab/noisy_tv.json")
    for p in (p_mog, p_tv):
        p.add_argument("--seeds", nargs="+", type=int, default=list(mog.MogSweep.seeds))
        p.add_argument("--out", default=mog.MogSweep.out)
        p.add_argument("--no-figures", action="store_true")
    args = parser.parse_args(argv)
    if args.family == "noisy-tv-table":
        run_experiment(lambda: run_noisy_tv_table(args.json))
    elif args.family == "mog":
        sweep = settings_from_flags(mog.MogSweep, args)
        run_experiment(lambda: run_mog(sweep), Path(sweep.out) / "mog.json")
    else:
        sweep = settings_from_flags(noisy_tv.NoisyTVSweep, args)
        run_experiment(lambda: run_noisy_tv(sweep), Path(sweep.out) / "noisy_tv.json")


if __name__ == "__main__":
    main()
