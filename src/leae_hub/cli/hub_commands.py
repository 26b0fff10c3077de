"""`leae card` and `leae publish` (also `python -m leae_hub.hub card|publish`): their options and what they run
(`leae_hub.hub`: rendering cards, publishing)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .running import COMMANDS


def build_hub_parser(prog: str = "leae") -> argparse.ArgumentParser:
    """The options of `leae card` and `leae publish` (also `python -m leae_hub.hub card|publish`)."""
    from ..configuration_leae import PRESETS
    from ..recipes import RECIPES
    from ..zoo import DATA_SOURCES

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
    from ..hub import read_json_object

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
    from .. import hub
    from ..configuration_leae import LeaeConfig

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
