"""The `leae` command: train, evaluate, write a model card, publish, and run the demo Space.

    leae train --config training/configs/cifar10-32-masked.yaml --max_steps 500
    leae evaluate --model runs/shapes-quick/model --data synthetic-shapes --json eval.json
    leae card --model runs/shapes-quick/model --metrics eval.json --recipe self-teaching --repo_id ORG/NAME
    leae publish --model runs/shapes-quick/model --repo_id ORG/NAME
    leae demo --model runs/shapes-quick/model

`leae COMMAND --help` lists each command's options. `train` is `training/train.py` (`leae_hub.training`), `evaluate`
is `training/evaluate.py`, `card` and `publish` are `python -m leae_hub.hub card|publish`, and `demo` runs the Space's
app (`spaces/leae-demo/app.py` in a checkout, with its example faces; elsewhere the copy packaged as
`leae_hub/space/app.py`).

A command that fails prints one line, `leae COMMAND: error: <what and the fix>`, and exits with status 1; set
`LEAE_TRACEBACK=1` to see the traceback instead.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

REPOSITORY = "https://github.com/leae-hub/leae-hub"
DEMO_APP = Path("spaces") / "leae-demo" / "app.py"
PACKAGED_DEMO_APP = Path(__file__).resolve().parent / "space" / "app.py"
COMMANDS = {
    "train": "train a model with any recipe (training/train.py)",
    "evaluate": "measure a saved model on a data source and write the metrics as JSON (training/evaluate.py)",
    "card": "write a model card (README.md) for a saved model",
    "publish": "upload a saved model, its code and its card to the Hub in one commit",
    "demo": "run the Gradio demo Space (spaces/leae-demo/app.py) on a model",
}


def log_to_stderr(level: int = logging.INFO) -> None:
    """Show leae_hub's log messages on stderr, once (for command-line entry points; libraries leave logging alone)."""
    package = logging.getLogger("leae_hub")
    if not package.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        package.addHandler(handler)
    package.setLevel(level)


# The extra of pyproject.toml that installs each optional library (`pip install "leae-hub[EXTRA]"`).
EXTRA_OF_MODULE = {
    "accelerate": "train",
    "jinja2": "train",
    "timm": "timm",
    "datasets": "datasets",
    "pyarrow": "datasets",
    "tensorboard": "tracking",
    "gradio": "space",
    "matplotlib": "lab",
    "skimage": "lab",
}


def run_command(prog: str, command: Callable[[], object]) -> int:
    """Run `command`; on an error print one line naming it (no traceback unless `LEAE_TRACEBACK=1`) and return 1.

    The messages of leae-hub's own errors name the bad value and the fix; an exception of another kind is shown with
    its type.
    """
    try:
        result = command()
    except Exception as error:
        if os.environ.get("LEAE_TRACEBACK", "") not in ("", "0"):
            raise
        text = " ".join(str(error).split())
        missing = error.name.partition(".")[0] if isinstance(error, ModuleNotFoundError) and error.name else None
        if missing in EXTRA_OF_MODULE:
            extra = EXTRA_OF_MODULE[missing]
            print(f'{prog}: error: {missing} is not installed: pip install "leae-hub[{extra}]"', file=sys.stderr)
            return 1
        plain = isinstance(error, (ValueError, TypeError, OSError, RuntimeError)) and text
        print(f"{prog}: error: {text if plain else f'{type(error).__name__}: {text}'}", file=sys.stderr)
        return 1
    return result if isinstance(result, int) else 0


# ------------------------------------------------------------------------------------------------------- evaluate


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
    from .hub import write_atomically

    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, json.dumps(payload, indent=2, allow_nan=False) + "\n")


def summary_table(metrics: dict[str, Any]) -> str:
    """A few headline numbers of `evaluate_model`'s result, one per line (a missing metric shows its reason)."""
    from .evaluation import HOLE_KINDS, metric

    def show(path: str, digits: int = 4) -> str:
        value = metric(metrics, path)
        return f"{value:.{digits}f}" if isinstance(value, float) else str(value)

    hole_ratio = metrics["inpainting"]["hole_ratio"]
    lines = [
        (
            "PSNR (dB)",
            show("reconstruction.psnr", 2)
            + f"  (per-image-mean baseline {show('reconstruction.per_image_mean_baseline_psnr', 2)})",
        ),
        ("SSIM / MS-SSIM", f"{show('reconstruction.ssim')} / {show('reconstruction.ms_ssim')}"),
        ("LPIPS / FID", f"{show('reconstruction.lpips')} / {show('reconstruction.fid')}"),
        (
            f"inpainting PSNR, hole {hole_ratio}",
            f"{show('inpainting.psnr_hole', 2)} in the hole, {show('inpainting.psnr_total', 2)} overall",
        ),
        *(
            (
                f"hole PSNR, {kind} (mean-colour fill)",
                f"{show(f'holes.{kind}.model.psnr_hole', 2)} ({show(f'holes.{kind}.mean_fill.psnr_hole', 2)})",
            )
            for kind in (metrics.get("holes") or {})
            if kind in HOLE_KINDS
        ),
    ]
    representation = metric(metrics, "representation")
    if isinstance(representation, dict):
        lines.append(("probe labels", representation["labels"]))
        for name, source in (
            ("model", "representation"),
            ("raw pixels", "representation.baselines.raw_pixels"),
            ("random-init encoder", "representation.baselines.random_init_encoder"),
        ):
            lines.append(
                (
                    f"k-NN@5 / k-NN@20 / probe, {name}",
                    f"{show(source + '.knn_top1.5')} / {show(source + '.knn_top1.20')} / "
                    f"{show(source + '.linear_probe')}",
                )
            )
    else:
        lines.append(("representation", str(representation)))
    model = metrics["model"]
    lines += [
        ("RankMe", f"{show('collapse.rankme', 1)} of at most {metrics['collapse']['rankme_max']}"),
        (
            "latent std min / mean / max",
            " / ".join(show(f"collapse.{key}", 3) for key in ("std_min", "std_mean", "std_max")),
        ),
        ("SIGReg", show("collapse.sigreg", 3)),
        ("parameters / compression", f"{model['parameters']:,} / {model['compression_ratio']:.1f}x"),
        ("eval throughput (images/s)", show("model.eval_images_per_s", 0)),
    ]
    width = max(len(name) for name, _ in lines)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in lines)


def evaluate_main(argv: Sequence[str] | None = None, prog: str | None = None) -> dict[str, Any]:
    """Evaluate a saved model (`leae_hub.evaluation.evaluate_model`), write the JSON, print the summary table."""
    import torch
    from transformers import AutoModel

    from .data import build_dataset, readable_items
    from .evaluation import evaluate_model, sample_grid
    from .hub import weights_sha256

    args = parse_evaluate_args(argv, prog)
    check_writable(Path(args.json))
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model = AutoModel.from_pretrained(args.model, revision=args.revision).to(device).eval()
    config = model.config
    options = {"image_size": config.image_size, "channels": config.in_channels, "seed": args.seed}
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


# ----------------------------------------------------------------------------------------------------------- demo


def find_demo_app() -> Path | None:
    """The demo app: `spaces/leae-demo/app.py` of the working directory when it is a leae-hub checkout (its example
    faces sit beside it), else the copy packaged with `leae_hub` (`leae_hub/space/app.py`, no example photos)."""
    for app in (Path.cwd() / DEMO_APP, PACKAGED_DEMO_APP):
        if app.is_file():
            return app
    return None


def demo_main(argv: Sequence[str]) -> int:
    """Replace this process with the demo Space's app (`find_demo_app`)."""
    app = find_demo_app()
    if app is None:
        print(
            f"leae demo: the demo app is missing from this installation ({PACKAGED_DEMO_APP}): reinstall it, "
            "pip install 'leae-hub[space]', or run it from a checkout: git clone "
            f"{REPOSITORY} && cd leae-hub && pip install -e '.[space]' && leae demo --model MODEL",
            file=sys.stderr,
        )
        return 2
    env = {**os.environ, "LEAE_DEMO_PROG": "leae demo"}  # the app's --help and errors name the typed command
    os.execve(sys.executable, [sys.executable, str(app), *argv], env)
    return 0  # not reached: execve does not return


# ----------------------------------------------------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
    """`leae COMMAND ...`, for `leae --help` and for errors; each command parses its own arguments."""
    parser = argparse.ArgumentParser(
        prog="leae",
        description="Self-teaching autoencoders for the Hugging Face ecosystem. `leae COMMAND --help` for details.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        commands.add_parser(name, help=help_text, description=help_text)
    return parser


def _version() -> str:
    from . import __version__

    return __version__


def main(argv: Sequence[str] | None = None) -> int:
    """Run `leae COMMAND ...` (`argv`: the arguments after `leae`; default: the command line)."""
    from_command_line = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        build_parser().parse_args(argv)  # prints the help, or names the unknown command, and exits
    command, arguments = argv[0], argv[1:]
    log_to_stderr()
    if command == "train":
        if from_command_line and "OMP_WAIT_POLICY" not in os.environ:
            # Idle OpenMP threads must sleep, not spin, on a shared CPU (training/train.py, docs/performance.md); the
            # policy is read when torch loads (not yet, unless something imported it: then start again with it set).
            os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
            if "torch" in sys.modules:
                os.execv(sys.executable, [sys.executable, "-m", "leae_hub.cli", "train", *arguments])

        def train() -> object:
            from .training import main as train_main

            return train_main(arguments, prog="leae train")

        return run_command("leae train", train)
    if command == "evaluate":
        return run_command("leae evaluate", lambda: evaluate_main(arguments, prog="leae evaluate"))
    if command in ("card", "publish"):

        def hub_command() -> object:
            from .hub import main as hub_main

            return hub_main([command, *arguments])

        return run_command(f"leae {command}", hub_command)
    return demo_main(arguments)


if __name__ == "__main__":
    sys.exit(main())
