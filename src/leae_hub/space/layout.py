"""The Space's page: `build_demo` puts together the model menu and one builder per tab (Reconstruct, Inpaint,
Interpolate, Latent brush, Lab), wires each button to its endpoint and the page to its links."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gradio as gr

import leae_hub.space.lab_endpoints as lab_endpoints
from leae_hub.lab import mog
from leae_hub.space.catalogue import (
    any_twins,
    describe_model,
    inpainting_models,
    is_face_model,
    register_models,
    register_twins,
)
from leae_hub.space.example_links import TABS, ImageTab, attach_links, example_pairs
from leae_hub.space.image_endpoints import run_inpaint, run_interpolate, run_latent_brush, run_reconstruct
from leae_hub.space.lab_endpoints import run_lab_mog, run_lab_noisy_tv
from leae_hub.space.regions import CUSTOM_REGION, DEFAULT_PRESET, FACE_REGIONS, RECTANGLE_PRESETS
from leae_hub.space.uploads import DISPLAY_SIZE, readable_uploads

QUEUE_MAX_SIZE = 32  # requests waiting beyond this are turned away ("queue is full") instead of waiting for minutes
CONCURRENCY_LIMIT = 2  # requests of one endpoint that run at the same time (the Space's CPUs are few)
# Model-size outputs (64 or 128 px for faces, 32 px for CIFAR models) fill their box, enlarged without smoothing.
CSS = """
.pixelated img { image-rendering: pixelated; }
.enlarge img { width: 100%; height: 100%; object-fit: contain; }
"""


def _output_image(label: str, height: int = DISPLAY_SIZE) -> gr.Image:
    # Model-size images are small (64 or 128 px for faces): shown enlarged, without smoothing (see CSS).
    return gr.Image(
        label=label, type="pil", format="png", interactive=False, height=height, elem_classes=["pixelated", "enlarge"]
    )


def _input_image(label: str) -> gr.Image:
    # image_mode=None keeps the upload's mode (RGBA, L, 16-bit): the image processor converts it.
    image = gr.Image(
        label=label, type="pil", image_mode=None, format="png", sources=["upload", "clipboard"], height=320
    )
    return readable_uploads(image, f"the {label.lower()} upload")


def _region_sliders(box: tuple[float, float, float, float]) -> list[gr.Slider]:
    return [
        gr.Slider(0, 1, value=value, step=0.01, label=name)
        for name, value in zip(("x0", "y0", "x1", "y1"), box, strict=True)
    ]


def _report_and_button(
    report: str, button: str, fn: Callable[..., Any], inputs: list[Any], outputs: list[Any], api_name: str
) -> list[Any]:
    """A tab's report (Markdown, under its images) and its primary button, which runs `fn` on `inputs` as the API
    endpoint `api_name`; returns the button's outputs: `outputs`, then the report."""
    outputs = [*outputs, gr.Markdown(label=report)]
    gr.Button(button, variant="primary").click(fn, inputs, outputs, api_name=api_name)
    return outputs


def _model_menu(demo: gr.Blocks, menu: list[tuple[str, str]], default_key: str) -> gr.Dropdown:
    """The page's title, and the model menu with the chosen model's summary beside it."""
    gr.Markdown(
        "# leae: self-teaching autoencoders\n"
        "Autoencoders trained **without a pixel loss**: the decoder's output is judged only through the model's "
        "own encoder. Upload a face (it is resized and centre-cropped to the model's size), or use an example. "
        "Example photos: UTKFace test split, for non-commercial research only."
    )
    with gr.Row():
        model_id = gr.Dropdown(choices=menu, value=default_key, label="Model", scale=2)
        model_info = gr.Markdown()
    model_id.change(describe_model, model_id, model_info, api_visibility="private")
    demo.load(describe_model, model_id, model_info, api_visibility="private")
    return model_id


def _reconstruct_tab(model_id: gr.Dropdown, pictures: list[str]) -> ImageTab:
    with gr.Tab(TABS["reconstruct"], id="reconstruct"):
        with gr.Row():
            rec_input = _input_image("Image")
            rec_original = _output_image("Original (at model size)")
            rec_output = _output_image("Reconstruction")
        inputs, outputs = [rec_input, model_id], [rec_original, rec_output]
        outputs = _report_and_button(
            "Reconstruction report", "Reconstruct", run_reconstruct, inputs, outputs, "reconstruct"
        )
        if pictures:
            gr.Examples([[p] for p in pictures], inputs=[rec_input], label="Faces")
    return ImageTab([rec_input], outputs)


def _inpaint_tab(inpaint_menu: list[tuple[str, str]], inpaint_ready: bool, pictures: list[str]) -> ImageTab:
    with gr.Tab(TABS["inpaint"], id="inpaint"):
        gr.Markdown(
            "Paint over the area to fill (the brush marks the hole), or pick a rectangle preset; both "
            "together are combined. Known pixels are returned unchanged. "
            + (
                "Only models trained with holes are offered here, the best hole PSNR first (a centred hole "
                "of 25 % of the area, on the model's test split)."
                if inpaint_ready
                else "⚠️ None of these models was trained with holes: they fill a hole with a flat patch of "
                "the mean colour."
            )
        )
        with gr.Row():
            inp_model = gr.Dropdown(choices=inpaint_menu, value=inpaint_menu[0][1], label="Inpainting model")
            inp_compare = gr.Checkbox(
                value=False,
                label="Compare with its twin (leAutoencoder and its masked-MSE baseline, trained alike)",
                interactive=any_twins(),
            )
        with gr.Row():
            inp_editor = readable_uploads(
                gr.ImageMask(
                    label="Image and hole",
                    type="pil",
                    image_mode="RGBA",
                    format="png",
                    sources=["upload", "clipboard"],
                    layers=False,
                ),
                "the image",
            )
            inp_masked = _output_image("Masked input (at model size)")
            inp_output = _output_image("Inpainted")
            inp_compared = _output_image("Its twin's inpainting (compare)")
        inp_preset = gr.Radio(list(RECTANGLE_PRESETS), value=DEFAULT_PRESET, label="Rectangle preset")
        inputs, outputs = [inp_editor, inp_preset, inp_model, inp_compare], [inp_masked, inp_output, inp_compared]
        outputs = _report_and_button("Inpainting report", "Inpaint", run_inpaint, inputs, outputs, "inpaint")
        if pictures:
            gr.Examples([[p] for p in pictures], inputs=[inp_editor], label="Faces")
    return ImageTab([inp_editor, inp_preset, inp_compare], outputs, model=inp_model)


def _interpolate_tab(model_id: gr.Dropdown, pairs: list[list[str]]) -> ImageTab:
    with gr.Tab(TABS["interpolate"], id="interpolate"):
        with gr.Row():
            int_a = _input_image("Image A")
            int_b = _input_image("Image B")
        int_steps = gr.Slider(2, 32, value=8, step=1, label="Steps")
        int_strip = _output_image("A → B (decoded latent path)", height=160)
        int_frames = gr.Gallery(label="Frames", format="png", columns=8, height="auto", elem_classes="pixelated")
        inputs, outputs = [int_a, int_b, int_steps, model_id], [int_strip, int_frames]
        outputs = _report_and_button(
            "Interpolation report", "Interpolate", run_interpolate, inputs, outputs, "interpolate"
        )
        if pairs:
            gr.Examples(pairs, inputs=[int_a, int_b], label="Face pairs")
    return ImageTab([int_a, int_b], outputs)


def set_region(region: str) -> list[Any]:
    """A face region sets both boxes; 'custom' leaves the sliders as they are."""
    box = FACE_REGIONS.get(region)
    return [gr.skip()] * 8 if box is None else [*box, *box]


def _latent_brush_tab(model_id: gr.Dropdown, pairs: list[list[str]]) -> ImageTab:
    with gr.Tab(TABS["latent_brush"], id="latent_brush"):
        gr.Markdown(
            "Copy the **source**'s latent vectors inside one box into the **target**'s latent inside another, "
            "then decode. Boxes are fractions (0–1) of the model-size image, x to the right and y down; each "
            "covers the latent cells it touches (8×8 cells at 64 px, 16×16 at 128 px). Pick a face region or "
            "set the sliders. Needs a model with a spatial latent."
        )
        with gr.Row():
            brush_target = _input_image("Target")
            brush_source = _input_image("Source")
        brush_region = gr.Radio([*FACE_REGIONS, CUSTOM_REGION], value="eyes", label="Face region (source and target)")
        with gr.Row():
            with gr.Column():
                gr.Markdown("**Source region**")
                src = _region_sliders(FACE_REGIONS["eyes"])
            with gr.Column():
                gr.Markdown("**Target region**")
                dst = _region_sliders(FACE_REGIONS["eyes"])
        with gr.Row():
            brush_output = _output_image("Result (target with the source's region)")
            brush_reference = _output_image("Target reconstruction (unchanged)")
            brush_regions = _output_image("Latent cells (source | target)")
        inputs, outputs = (
            [brush_target, brush_source, *src, *dst, model_id],
            [brush_output, brush_reference, brush_regions],
        )
        outputs = _report_and_button("Brush report", "Paint", run_latent_brush, inputs, outputs, "latent_brush")
        brush_region.change(set_region, brush_region, [*src, *dst], api_visibility="private")
        if pairs:
            gr.Examples(pairs, inputs=[brush_target, brush_source], label="Face pairs")
    return ImageTab([brush_target, brush_source], outputs, boxes=[*src, *dst])


def _lab_tab() -> None:
    with gr.Tab(TABS["lab"], id="lab", elem_id="lab-tab"):
        gr.Markdown(
            "The JEPA lab of `docs/lab.md`, trained live on this server's CPU (the model menu above does not "
            "apply here). **2-D mixture of Gaussians** (the seed's three components, 5,000 points): pick an "
            "objective and watch its energy landscape form. Joint-embedding methods show −cos similarity to a "
            "reference point (cyan) at each component mean; the energy and score models show their energy U. "
            "White dots are training points; dark is low energy."
        )
        with gr.Row():
            lab_method = gr.Dropdown(list(mog.METHODS), value="jepa-masked", label="Method")
            lab_steps = gr.Slider(*lab_endpoints.LAB_MOG_STEPS, step=50, label="Steps")
            lab_seed = gr.Number(value=0, precision=0, minimum=0, maximum=lab_endpoints.LAB_MAX_SEED, label="Seed")
        lab_landscape = gr.Image(label="Energy landscape", format="png", interactive=False, height=240)
        _report_and_button(
            "Training report", "Train", run_lab_mog, [lab_method, lab_steps, lab_seed], [lab_landscape], "lab_mog"
        )
        gr.Markdown(
            "**Noisy TV**: a 4-d rotating signal seen in 20-d observations together with a distractor scaled "
            "by σ. Five linear models with a 4-d latent (VAE and AR reconstruct or predict observations; JEPA, "
            "VJEPA and BJEPA predict latents) are trained one after the other, and the signal's next state is "
            "read out of each latent. A few hundred steps keep this to seconds; `docs/lab.md` has the seed's "
            "10,000 steps over three seeds, where the numbers differ."
        )
        with gr.Row():
            tv_sigma = gr.Slider(*lab_endpoints.LAB_TV_SIGMA, step=0.5, label="Distractor scale σ")
            tv_steps = gr.Slider(*lab_endpoints.LAB_TV_STEPS, step=50, label="Steps per model")
            tv_seed = gr.Number(value=0, precision=0, minimum=0, maximum=lab_endpoints.LAB_MAX_SEED, label="Seed")
        tv_series = gr.Image(label="s[0] over the test steps", format="png", interactive=False, height=260)
        inputs = [tv_sigma, tv_steps, tv_seed]
        _report_and_button(
            "Noisy-TV report", "Compare the models", run_lab_noisy_tv, inputs, [tv_series], "lab_noisy_tv"
        )


def _menus(
    sources: list[str], default: str | None, org: str
) -> tuple[list[tuple[str, str]], str, list[tuple[str, str]], bool]:
    """Register the models; returns the model menu, the key chosen first (`default`'s, else the first face model's),
    the Inpaint tab's menu (best first, with hole PSNRs) and whether any of its models was trained with holes."""
    menu = register_models(sources)
    keys = [key for _, key in menu]
    if default:
        default_key = keys[sources.index(default)]
    else:
        default_key = next((key for key, source in zip(keys, sources, strict=True) if is_face_model(source)), keys[0])
    register_twins(sources, org)
    ranked, inpaint_ready = inpainting_models(sources)
    inpaint_menu = [
        (f"{menu[sources.index(model)][0]}{'' if score is None else f' · hole PSNR {score:.1f} dB'}",
         keys[sources.index(model)])
        for model, score in ranked
    ]  # fmt: skip
    return menu, default_key, inpaint_menu, inpaint_ready


def build_demo(sources: list[str], default: str | None, org: str, examples: dict[str, str]) -> gr.Blocks:
    """Build the Blocks app.

    Args:
        sources: the models offered, as local folders or Hub repo ids, in menu order.
        default: the model selected first (added to the menu if missing); None: the first face model.
        org: the organisation of the zoo's Hub repos (where a model's twin is looked up).
        examples: the example photos, {name: path} (`example_images`).
    """
    if default and default not in sources:
        sources = [default, *sources]
    if not sources:
        raise ValueError("no models to offer: pass model_ids or a default model (--model FOLDER_OR_REPO_ID).")
    menu, default_key, inpaint_menu, inpaint_ready = _menus(sources, default, org)
    pictures = list(examples.values())
    pairs = example_pairs(pictures)
    with gr.Blocks(title="leae: self-teaching autoencoders") as demo:
        model_id = _model_menu(demo, menu, default_key)
        with gr.Tabs() as tabs:
            image_tabs = {
                "reconstruct": _reconstruct_tab(model_id, pictures),
                "inpaint": _inpaint_tab(inpaint_menu, inpaint_ready, pictures),
                "interpolate": _interpolate_tab(model_id, pairs),
                "latent_brush": _latent_brush_tab(model_id, pairs),
            }
            _lab_tab()
        attach_links(demo, tabs, model_id, image_tabs, examples)
    demo.queue(max_size=QUEUE_MAX_SIZE, default_concurrency_limit=CONCURRENCY_LIMIT)
    return demo
