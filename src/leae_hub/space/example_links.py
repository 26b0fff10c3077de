"""The example faces, and the links that use them: `?tab=inpaint` in the URL opens a tab, `&example=1` fills it with
example images and runs it, `&compare=1` turns on the Inpaint tab's comparison with the model's twin."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr
from PIL import Image

from leae_hub.space.catalogue import twin_of
from leae_hub.space.image_endpoints import run_inpaint, run_interpolate, run_latent_brush, run_reconstruct
from leae_hub.space.regions import DEFAULT_PRESET

TABS = {
    "reconstruct": "Reconstruct",
    "inpaint": "Inpaint",
    "interpolate": "Interpolate",
    "latent_brush": "Latent brush",
    "lab": "Lab",
}
IMAGE_TABS = ("reconstruct", "inpaint", "interpolate", "latent_brush")  # the tabs that `?example=` fills


def example_images(folder: Path) -> dict[str, str]:
    """The example photos shipped in `folder`: {name: path}, UTKFace first, then any others, each sorted by name."""
    files = [path for path in folder.glob("*") if path.suffix.lower() in (".jpg", ".jpeg", ".png")]
    files.sort(key=lambda path: (not path.name.startswith("utkface"), path.name))
    return {path.stem: str(path) for path in files}


def example_pairs(pictures: list[str]) -> list[list[str]]:
    """Consecutive pairs of examples from the same data set (same alignment), for interpolation and the brush."""
    pairs: list[list[str]] = []
    for first, second in zip(pictures[::2], pictures[1::2], strict=False):
        if Path(first).name.split("-")[0] == Path(second).name.split("-")[0]:
            pairs.append([first, second])
    return pairs


@dataclass
class ImageTab:
    """The components of an image tab that a link fills: `inputs` (its example images, then its settings) and
    `outputs` (what its button writes, in the order its endpoint returns them)."""

    inputs: list[Any]
    outputs: list[Any]
    model: gr.Dropdown | None = None  # the tab's own model menu (the Inpaint tab's), else the page's
    boxes: list[gr.Slider] = field(default_factory=list)  # the latent brush's source and target region sliders


def _fill(parts: ImageTab, tab: str, first: str, second: str, model: str, compare: bool) -> dict[Any, Any]:
    """Run `tab` on the example images `first` (and `second`); returns the tab's inputs and outputs, filled."""
    if tab == "reconstruct":
        values: list[Any] = [first]
        outputs = run_reconstruct(Image.open(first), model)
    elif tab == "inpaint":
        editor = {"background": Image.open(first).convert("RGBA"), "layers": [], "composite": None}
        outputs = run_inpaint(editor, DEFAULT_PRESET, model, compare)
        values = [{"background": first, "layers": [], "composite": first}, DEFAULT_PRESET, compare]
    elif tab == "interpolate":
        values = [first, second]
        outputs = run_interpolate(Image.open(first), Image.open(second), 8, model)
    else:
        values = [first, second]
        boxes = [slider.value for slider in parts.boxes]
        outputs = run_latent_brush(Image.open(first), Image.open(second), *boxes, model)
    return dict(zip(parts.inputs, values, strict=True)) | dict(zip(parts.outputs, outputs, strict=True))


def attach_links(
    demo: gr.Blocks, tabs: gr.Tabs, model_id: gr.Dropdown, image_tabs: dict[str, ImageTab], examples: dict[str, str]
) -> None:
    """Make `demo` answer a link when a page loads: `?tab=` selects that tab (`TABS`); `&example=` (an index into the
    examples, or an example file name without extension) fills an image tab with example images and runs it, so a
    link shows the tab in use; `&compare=1` turns on the Inpaint tab's comparison with the model's twin, when it has
    one."""
    pictures = list(examples.values())
    pairs = example_pairs(pictures)
    report = image_tabs["reconstruct"].outputs[-1]  # `{report: gr.skip()}`: no change (an empty dict reads as a value)

    def select_tab(request: gr.Request):
        """`?tab=inpaint` in the URL opens that tab."""
        tab = dict(request.query_params).get("tab", "") if request else ""
        return gr.Tabs(selected=tab) if tab in TABS else gr.skip()

    def fill_from_url(model: str, inpaint_model: str, request: gr.Request):
        """`?tab=inpaint&example=1` fills that tab with example images and runs it (`attach_links`)."""
        params = dict(request.query_params) if request else {}
        compare = params.get("compare") == "1" and twin_of(str(inpaint_model)) is not None
        tab, example = params.get("tab", ""), params.get("example", "")
        if tab not in IMAGE_TABS or not example or not pictures:
            return {report: gr.skip()}
        if example.isdigit():  # 1-based, as in "the first example"
            first = pictures[(int(example) - 1) % len(pictures)]
        else:
            first = examples.get(example, pictures[0])
        partner = {a: b for a, b in pairs} | {b: a for a, b in pairs}
        second = partner.get(first) or next((p for p in pictures if p != first), first)
        try:
            return _fill(image_tabs[tab], tab, first, second, inpaint_model if tab == "inpaint" else model, compare)
        except gr.Error as error:
            gr.Warning(error.message)
            return {report: gr.skip()}

    url_outputs = {component for parts in image_tabs.values() for component in (*parts.inputs, *parts.outputs)}
    demo.load(select_tab, None, tabs, api_visibility="private", show_progress="hidden")
    demo.load(
        fill_from_url,
        [model_id, image_tabs["inpaint"].model],
        url_outputs,
        api_visibility="private",
        show_progress="hidden",
    )
