"""The model card a run drafts in `model/`: a quick held-out evaluation (`eval.json`, `samples.png`) and the card the
recipe's `RecipeCard` describes (`leae card` replaces it after a full `leae evaluate`).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import torch

from ..evaluation import evaluate_model, jsonable, sample_grid
from ..hub import render_card, weights_sha256, write_atomically, write_card
from ..modeling_leae import LeaeModel
from ..recipes import RECIPES
from .settings import RunConfig, card_repo_id

logger = logging.getLogger(__name__)


def write_card_draft(
    config: RunConfig, model: LeaeModel, eval_images: torch.Tensor, model_dir: Path, steps: int, wall_time: float
) -> None:
    """A model card from a quick held-out evaluation (no representation metrics; run evaluate.py for the full set).

    The card's recipe section comes from the recipe class's `card`: for a recipe without one, only the evaluation
    (`eval.json`) and `samples.png` are written.
    """
    metrics = evaluate_model(
        model,
        [{"pixel_values": image} for image in eval_images],
        representation=False,
        data_spec=config.data.eval_data or config.data.data,
        split=config.data.eval_split,
    )
    metrics["model"]["weights_sha256"] = weights_sha256(model_dir)
    write_atomically(model_dir / "eval.json", json.dumps(jsonable(metrics), indent=2, allow_nan=False))
    with torch.inference_mode():
        sample_grid(model, eval_images[:8]).save(model_dir / "samples.png")
    if RECIPES[config.recipe].card is None:
        logger.warning("no model card draft: recipe %r has no `card` text (leae_hub.recipes.RecipeCard)", config.recipe)
        return
    run_config = Path(config.train.output_dir) / "train_config.yaml"
    training = {
        "command": f"accelerate launch training/train.py --config {run_config}",
        "config": run_config.read_text(),
        "steps": steps,
        "images_seen": steps
        * config.train.batch_size
        * config.train.gradient_accumulation_steps
        * int(os.environ.get("WORLD_SIZE", "1")),
        "wall_time_s": round(wall_time, 1),
        "seed": config.train.seed,
    }
    card = render_card(
        model_dir,
        repo_id=card_repo_id(config),
        recipe=config.recipe,
        datasets=[config.data.data],
        metrics=metrics,
        training=training,
        sample_grid="samples.png",
    )
    write_card(model_dir, card)
