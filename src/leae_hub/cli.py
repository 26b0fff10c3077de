"""The `leae` command: train, evaluate, write a model card, publish, and run the demo Space.

    leae train --config training/configs/cifar10-32-masked.yaml --max_steps 500
    leae evaluate --model runs/shapes-quick/model --data synthetic-shapes --json eval.json
    leae card --model runs/shapes-quick/model --metrics eval.json --recipe self-teaching --repo_id ORG/NAME
    leae publish --model runs/shapes-quick/model --repo_id ORG/NAME
    leae demo --model runs/shapes-quick/model

`leae COMMAND --help` lists each command's options. `train` is `training/train.py` (`leae_hub.trainer`), `evaluate`
is `training/evaluate.py`, `card` and `publish` are also `python -m leae_hub.hub card|publish`, and `demo` runs the
Space's app (`spaces/leae-demo/app.py` in a checkout, with its example faces; elsewhere the copy packaged as
`leae_hub/space/app.py`).

A command that fails prints one line, `leae COMMAND: error: <what and the fix>`, and exits with status 1; set
`LEAE_TRACEBACK=1` to see the traceback instead.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported where used: `leae --help` loads neither torch nor transformers
    from transformers import HfArgumentParser

    from .trainer.settings import RunConfig

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


# ---------------------------------------------------------------------------------------------------------- train


def build_train_parser(prog: str | None = None) -> HfArgumentParser:
    """The options of `leae train` / `training/train.py`: one group each for the model, the data, the recipe and its
    options, and the training (the dataclasses of `leae_hub.trainer.settings`)."""
    from transformers import HfArgumentParser

    from .trainer.settings import DEFAULT_CONFIG, DataArguments, ModelArguments, TrainArguments, recipe_arguments

    return HfArgumentParser(
        (ModelArguments, DataArguments, recipe_arguments(), TrainArguments),
        prog=prog,
        description=(
            "Train a leae model. --config FILE reads these settings from a YAML file (default: the packaged "
            f"{DEFAULT_CONFIG.name}); flags override it. Every recipe option is also a flag."
        ),
        formatter_class=_TrainHelpFormatter,
    )


class _TrainHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows a setting's default, except `None` (unset: the help says what happens then)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None:
            return action.help
        return super()._get_help_string(action)


def parse_train_config(argv: Sequence[str] | None = None, prog: str | None = None) -> RunConfig:
    """The run `leae train` is asked for: the YAML `--config` (default: the packaged shapes-quick.yaml) overlaid with
    the flags, checked (`leae_hub.trainer.settings`: unknown keys, types and values are errors)."""
    from .trainer import settings

    argv = _attach_negative_numbers(list(sys.argv[1:] if argv is None else argv))
    config_path = _pop_config_path(argv)
    config_path, values = settings.read_settings(config_path, required=not ("-h" in argv or "--help" in argv))
    parser = build_train_parser(prog)
    settings.check_config_file(values, parser.dataclass_types, config_path)
    parser.set_defaults(**values)
    config = settings.RunConfig.from_arguments(*parser.parse_args_into_dataclasses(args=argv))
    settings.validate(config)
    return config


_NUMBER = re.compile(r"-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|-inf|-nan", re.IGNORECASE)


def _attach_negative_numbers(argv: list[str]) -> list[str]:
    """`--flag -1e-3` → `--flag=-1e-3`: argparse takes "-1e-3" for an option, so the value would be missing; this way
    it reaches `validate`, which names the value and the fix."""
    joined: list[str] = []
    for argument in argv:
        if joined and joined[-1].startswith("--") and "=" not in joined[-1] and _NUMBER.fullmatch(argument):
            joined[-1] = f"{joined[-1]}={argument}"
        else:
            joined.append(argument)
    return joined


def _pop_config_path(argv: list[str]) -> Path | None:
    """Remove `--config FILE` (or `--config=FILE`) from `argv` and return the path."""
    for index, argument in enumerate(argv):
        if argument.startswith("--config="):
            del argv[index]
            return Path(argument.split("=", 1)[1])
        if argument == "--config":
            if index + 1 == len(argv):
                raise ValueError("--config needs a YAML file, e.g. --config training/configs/shapes-quick.yaml.")
            path = Path(argv[index + 1])
            del argv[index : index + 2]
            return path
    return None


REPORT_GRACE_S = 30.0  # how long a process other than the first waits for the first to report a bad setting


def parse_train_config_reported_once(argv: Sequence[str] | None = None, prog: str | None = None) -> RunConfig:
    """`parse_train_config`, where only the first process of a launch (RANK 0, or no launcher) reports a bad setting.

    Every process parses the same settings and fails alike. The others keep their message and wait: the first one
    names the error and exits, and the launcher then stops them, so the message is printed once. A process still alive
    after `REPORT_GRACE_S` (its settings failed where the first one's did not) prints its own and exits.
    """
    if int(os.environ.get("RANK", "0") or 0) == 0:
        return parse_train_config(argv, prog)
    message = io.StringIO()
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(message):
            return parse_train_config(argv, prog)
    except (Exception, SystemExit) as error:
        if isinstance(error, SystemExit) and not error.code:  # --help: the first process prints it
            raise
        time.sleep(REPORT_GRACE_S)
        sys.stderr.write(message.getvalue())
        raise


def train_main(argv: Sequence[str] | None = None, prog: str | None = None) -> dict[str, float]:
    """`leae train` / `training/train.py`: parse the settings, train (`leae_hub.trainer.train`), and print the result
    line (on the main process) to stdout."""
    from .trainer.loop import summary_line, train

    config = parse_train_config_reported_once(argv, prog)
    result = train(config)
    if result:
        print(summary_line(result, Path(config.train.output_dir) / "model"))
    return result


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
    from .evaluation import HOLE_KINDS, schema

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


def parse_demo_args(argv: Sequence[str] | None = None, prog: str | None = None) -> argparse.Namespace:
    """The options of `leae demo` / the Space's `python app.py` (the app parses them: `demo_main` hands them over)."""
    parser = argparse.ArgumentParser(prog=prog, description="The leae-hub demo Space.")
    parser.add_argument("--model", default=os.environ.get("LEAE_MODEL_ID"), help="local folder or Hub repo id")
    parser.add_argument("--port", type=int, default=None, help="server port (default: GRADIO_SERVER_PORT or 7860)")
    parser.add_argument("--share", action="store_true", default=False, help="create a public gradio.live link")
    return parser.parse_args(argv)


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


# ------------------------------------------------------------------------------------------------- card, publish


def build_hub_parser(prog: str = "leae") -> argparse.ArgumentParser:
    """The options of `leae card` and `leae publish` (also `python -m leae_hub.hub card|publish`)."""
    from .configuration_leae import PRESETS
    from .recipes import RECIPES
    from .zoo import DATA_SOURCES

    parser = argparse.ArgumentParser(prog=prog, description=f"{COMMANDS['card']}; {COMMANDS['publish']}")
    commands = parser.add_subparsers(dest="command", required=True)

    card = commands.add_parser("card", help=COMMANDS["card"], description=COMMANDS["card"])
    source = card.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", help="a folder written by save_pretrained")
    source.add_argument("--preset", choices=PRESETS, help="an architecture preset (a card before training)")
    card.add_argument("--repo_id", required=True, help="ORG/NAME on the Hub")
    card.add_argument("--recipe", required=True, choices=[name for name, cls in RECIPES.items() if cls.card])
    card.add_argument(
        "--data", choices=list(DATA_SOURCES), help="the training data spec: the card says what it is, and its terms"
    )
    card.add_argument("--datasets", nargs="*", default=[], help="more training data sources (Hub ids go to the YAML)")
    card.add_argument(
        "--metrics", help="the JSON of training/evaluate.py (copied into the folder as eval.json, beside the card)"
    )
    card.add_argument("--training_config", help="the training YAML (embedded in the card)")
    card.add_argument("--training_command", help="default: accelerate launch training/train.py --config <config>")
    card.add_argument(
        "--training_info", help="a JSON with steps, images_seen, wall_time_s (or train_wall_time_s), seed, hardware"
    )
    card.add_argument("--sample_grid", help="path of the sample image inside the repo, e.g. samples.png")
    card.add_argument("--inpainting_figure", help="path of an inpainting figure inside the repo, e.g. inpainting.png")
    card.add_argument(
        "--inpainting_figure_models", nargs="*", default=[], help="the repo names of its model rows, top to bottom"
    )
    card.add_argument("--license", help="default: apache-2.0, or other (non-commercial) for UTKFace / CelebA data")
    card.add_argument("--base_model")
    card.add_argument("--eval_dataset", help="Hub dataset id for the model-index (default: from the metrics)")
    card.add_argument("--not_trained", metavar="NOTE", help="state that the model is not trained yet")
    card.add_argument("--output", help="folder to write README.md to (default: --model)")

    push = commands.add_parser("publish", help=COMMANDS["publish"], description=COMMANDS["publish"])
    push.add_argument("--model", required=True, help="the folder to upload (with its README.md card)")
    push.add_argument("--repo_id", required=True, help="ORG/NAME on the Hub")
    push.add_argument("--private", action="store_true", help="create the repo as private")
    push.add_argument("--commit_message")
    push.add_argument("--card_only", action="store_true", help="publish the card of a model not trained yet, alone")
    push.add_argument("--dry_run", metavar="OUT_DIR", help="write the repo's files to OUT_DIR and upload nothing")
    push.add_argument(
        "--include", nargs="+", default=[], metavar="FILE", help="publish these files of the folder too (on purpose)"
    )
    return parser


def _training_from_args(args: argparse.Namespace) -> dict[str, Any] | None:
    """The card's training section from `--training_info`, `--training_config` and `--training_command`."""
    from .hub import read_json_object

    training: dict[str, Any] = {}
    if args.training_info:
        info = read_json_object(args.training_info, "--training_info")
        for key in ("steps", "images_seen", "seed", "hardware", "command"):
            if info.get(key) is not None:
                training[key] = info[key]
        wall = info.get("wall_time_s", info.get("train_wall_time_s"))
        if wall is not None:
            training["wall_time_s"] = wall
    if args.training_config:
        path = Path(args.training_config)
        training["config_path"] = args.training_config
        if path.is_file():
            training["config"] = path.read_text(encoding="utf-8")
        training.setdefault("command", f"accelerate launch training/train.py --config {args.training_config}")
    if args.training_command:
        training["command"] = args.training_command
    return training or None


def hub_main(argv: Sequence[str]) -> int:
    """`leae card ...` / `leae publish ...` (`argv` starts with the command); errors are raised, not printed."""
    from . import hub
    from .configuration_leae import LeaeConfig

    args = build_hub_parser().parse_args(argv)
    if args.command == "publish" and args.dry_run:
        files = hub.prepare_repo(args.model, args.repo_id, args.dry_run, card_only=args.card_only, include=args.include)
        print(f"dry run: wrote the {len(files)} files of {args.repo_id} to {args.dry_run} ({', '.join(files)})")
        return 0
    if args.command == "publish":
        info = hub.publish(
            args.model,
            args.repo_id,
            private=args.private,
            commit_message=args.commit_message,
            card_only=args.card_only,
            include=args.include,
        )
        print(f"published {args.model} to {args.repo_id}: {info.commit_url}")
        return 0
    if args.model is None and args.output is None:
        raise SystemExit("card --preset needs --output DIR (where README.md goes)")
    source = args.model if args.model is not None else LeaeConfig.from_preset(args.preset)
    metrics = hub.read_json_object(args.metrics, "--metrics") if args.metrics else None
    card = hub.render_card(
        source,
        repo_id=args.repo_id,
        recipe=args.recipe,
        datasets=args.datasets,
        metrics=metrics,
        training=_training_from_args(args),
        sample_grid=args.sample_grid,
        license=args.license,
        base_model=args.base_model,
        not_trained_note=args.not_trained,
        eval_dataset=args.eval_dataset,
        data=args.data,
        inpainting_figure=args.inpainting_figure,
        inpainting_figure_models=args.inpainting_figure_models,
    )
    folder = Path(args.output or args.model)
    replaced = (folder / "README.md").is_file()
    path = hub.write_card(folder, card)
    print(f"{'replaced' if replaced else 'wrote'} {path}")
    if args.metrics and Path(args.metrics).resolve() != (folder / "eval.json").resolve():
        # The card shows these metrics: they go beside it, where publish checks the card against them.
        evidence_replaced = (folder / "eval.json").is_file()
        hub.write_atomically(folder / "eval.json", Path(args.metrics).read_bytes())
        print(f"{'replaced' if evidence_replaced else 'wrote'} {folder / 'eval.json'} (a copy of {args.metrics})")
    return 0


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
        return run_command("leae train", lambda: train_main(arguments, prog="leae train"))
    if command == "evaluate":
        return run_command("leae evaluate", lambda: evaluate_main(arguments, prog="leae evaluate"))
    if command in ("card", "publish"):
        return run_command(f"leae {command}", lambda: hub_main([command, *arguments]))
    return demo_main(arguments)


if __name__ == "__main__":
    sys.exit(main())
