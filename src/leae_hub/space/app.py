"""leae-demo: a Gradio Space for the self-teaching autoencoders of leae-hub, with faces first.

Four tabs, each a thin shell over `leae_hub.inference` and each an API endpoint for `gradio_client`:
`/reconstruct`, `/inpaint`, `/interpolate`, `/latent_brush`.

Run locally:

    python spaces/leae-demo/app.py --model model_cards/leae-faces-128

`--model` (or the `LEAE_MODEL_ID` environment variable) takes a local folder or a Hub repo id; without it the first face
model of the menu is selected. The menu lists the staged folders under `model_cards/` first, then the trained repos of
`leae_hub.zoo` (faces first). Open a tab directly with `?tab=inpaint` (or `reconstruct`, `interpolate`,
`latent_brush`) in the URL.

This file is the Space as started from its folder (where it is, whose repos it lists, the launch); the parts are the
modules beside it: `catalogue` (the models), `uploads` (uploads, outputs, errors), `regions` (holes and brush boxes),
`image_endpoints` and `lab_endpoints` (the tabs' callbacks), `example_links` (the examples and `?tab=` links) and
`layout` (the page). Their names are re-exported here. The options are parsed by `leae_hub.cli.parse_demo_args`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import gradio as gr

import leae_hub.space.catalogue as catalogue
import leae_hub.space.example_links as example_links
import leae_hub.space.layout as layout
from leae_hub.cli import parse_demo_args
from leae_hub.space.catalogue import (
    FACE_DATA,
    LOAD_RETRY_S,
    describe_model,
    hole_score,
    inpainting_models,
    is_face_model,
    load_model,
    model_key,
    register_models,
    trained_with_holes,
)
from leae_hub.space.example_links import IMAGE_TABS, TABS, example_pairs
from leae_hub.space.image_endpoints import run_inpaint, run_interpolate, run_latent_brush, run_reconstruct
from leae_hub.space.lab_endpoints import (
    LAB_MAX_SEED,
    LAB_MOG_FRAMES,
    LAB_MOG_GRID,
    LAB_MOG_PANEL,
    LAB_MOG_STATS_POINTS,
    LAB_MOG_STEPS,
    LAB_TV_SIGMA,
    LAB_TV_STEPS,
    run_lab_mog,
    run_lab_noisy_tv,
)
from leae_hub.space.layout import CONCURRENCY_LIMIT, CSS, QUEUE_MAX_SIZE
from leae_hub.space.regions import (
    CUSTOM_REGION,
    DEFAULT_PRESET,
    FACE_REGIONS,
    NO_PRESET,
    RECTANGLE_PRESETS,
    centre_square,
    editor_mask,
)
from leae_hub.space.uploads import (
    DISPLAY_SIZE,
    MAX_FILE_SIZE,
    MAX_PIXELS,
    MAX_UPLOAD_PIXELS,
    OUTPUT_DIR,
    OUTPUT_MAX_AGE_S,
    cap_pixels,
    png_file,
    readable_uploads,
)

__all__ = [
    "CONCURRENCY_LIMIT", "CSS", "CUSTOM_REGION", "DEFAULT_PRESET", "DISPLAY_SIZE", "EXAMPLES_DIR", "FACE_DATA",
    "FACE_REGIONS", "HERE", "IMAGE_TABS", "LAB_MAX_SEED", "LAB_MOG_FRAMES", "LAB_MOG_GRID", "LAB_MOG_PANEL",
    "LAB_MOG_STATS_POINTS", "LAB_MOG_STEPS", "LAB_TV_SIGMA", "LAB_TV_STEPS", "LOAD_RETRY_S", "MAX_FILE_SIZE",
    "MAX_PIXELS", "MAX_UPLOAD_PIXELS", "MODEL_CARD_DIRS", "NO_PRESET", "OUTPUT_DIR", "OUTPUT_MAX_AGE_S",
    "QUEUE_MAX_SIZE", "RECTANGLE_PRESETS", "SPACE_ORG", "TABS", "build_demo", "cap_pixels", "centre_square",
    "default_model_ids", "describe_model", "editor_mask", "example_images", "example_pairs", "hole_score", "hub_org",
    "inpainting_models", "is_face_model", "load_model", "main", "model_key", "png_file", "readable_uploads",
    "register_models", "run_inpaint", "run_interpolate", "run_lab_mog", "run_lab_noisy_tv", "run_latent_brush",
    "run_reconstruct", "trained_with_holes",
]  # fmt: skip

logger = logging.getLogger("leae-demo")

# The folder of the app.py that was started (not resolved: spaces/leae-demo/app.py of a checkout links to the copy
# packaged as leae_hub/space/app.py, and the Space's examples/ and model_cards/ sit beside the link).
HERE = Path(__file__).absolute().parent
# The organisation of the zoo's Hub repos in the menu: build_space.py writes the Space's `--org` here; the
# LEAE_HUB_ORG environment variable overrides it, and without either it is leae_hub.zoo's default (leae-hub).
SPACE_ORG: str | None = None
MODEL_CARD_DIRS = catalogue.model_card_dirs(HERE)
EXAMPLES_DIR = HERE / "examples"  # face photos from the UTKFace test split: see examples/LICENSE.md


def hub_org() -> str:
    """The organisation of the zoo's repos: `LEAE_HUB_ORG`, else the Space's own (`SPACE_ORG`), else the zoo's."""
    return catalogue.hub_org(SPACE_ORG)


def default_model_ids() -> list[str]:
    """The staged folders of `MODEL_CARD_DIRS` first (they need no network), then the zoo's trained Hub repos, without
    repeats."""
    return catalogue.default_model_ids(MODEL_CARD_DIRS, hub_org())


def example_images(folder: Path = EXAMPLES_DIR) -> dict[str, str]:
    """The example photos shipped beside the app: {name: path}, UTKFace first, then any others, each sorted by name."""
    return example_links.example_images(folder)


def build_demo(model_ids: list[str] | None = None, default: str | None = None) -> gr.Blocks:
    """Build the Blocks app.

    Args:
        model_ids: the models offered, as local folders or Hub repo ids (default: `default_model_ids()`, staged
            `model_cards/*/` folders first, then the zoo's trained repos, faces first).
        default: the model selected first (added to the menu if missing); default: the first face model.
    """
    sources = list(model_ids) if model_ids is not None else default_model_ids()
    return layout.build_demo(sources, default, hub_org(), example_images())


def main(argv: list[str] | None = None) -> None:
    """Run the Space: `python app.py [--model FOLDER_OR_REPO_ID] [--port PORT] [--share]`."""
    args = parse_demo_args(argv, prog=os.environ.get("LEAE_DEMO_PROG"))
    logging.basicConfig(level=logging.INFO)
    logger.info("zoo repos of %s; menu: %s", hub_org(), ", ".join(default_model_ids()))
    demo = build_demo(default=args.model)
    demo.launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        server_port=args.port,
        share=args.share,
        show_error=True,
        max_file_size=MAX_FILE_SIZE,
        css=CSS,
    )


if __name__ == "__main__":
    main()
