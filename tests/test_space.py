"""The Gradio Space (spaces/leae-demo/app.py), end to end: a real server on 127.0.0.1, driven through gradio_client
and (when installed) headless Chromium. Offline: the models are tiny random ones saved under tmp_path; the examples are
the face photos in spaces/leae-demo/examples/."""

import importlib.util
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import httpx
import huggingface_hub
import numpy as np
import pytest
import torch
from conftest import tiny_config
from PIL import Image

gr = pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

import leae_hub  # noqa: E402
from leae_hub import inference, zoo  # noqa: E402
from leae_hub.lab import mog, noisy_tv  # noqa: E402
from leae_hub.space import lab_endpoints  # noqa: E402

APP_PATH = Path(__file__).resolve().parents[1] / "spaces" / "leae-demo" / "app.py"
EXAMPLES = APP_PATH.parent / "examples"
# gradio's queue statistics use pandas options that pandas 3 deprecates: not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:.*no_silent_downcasting:Warning", "ignore:The copy keyword:Warning")
TAB_LABELS = ("Reconstruct", "Inpaint", "Interpolate", "Latent brush", "Lab")
README = APP_PATH.parent / "README.md"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """The app module, imported by path."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
        spec = importlib.util.spec_from_file_location("leae_demo_app", APP_PATH)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory):
    """A spatial model, a pooled model and a broken folder, saved like Hub repos."""
    root = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    spatial = leae_hub.LeaeModel(tiny_config())
    with torch.no_grad():
        spatial.decoder.head.weight.mul_(30)  # visible structure in the outputs of a random model
    pooled = leae_hub.LeaeModel(
        leae_hub.LeaeConfig.from_preset(
            "leae-cifar", hidden_channels=16, latent_type="pooled", latent_channels=16, pooled_map_channels=16
        )
    )
    dirs = {"spatial": root / "leae-tiny-spatial", "pooled": root / "leae-tiny-pooled", "broken": root / "leae-broken"}
    spatial.save_pretrained(dirs["spatial"])
    leae_hub.LeaeImageProcessor(image_size=32).save_pretrained(dirs["spatial"])
    pooled.save_pretrained(dirs["pooled"])  # no preprocessor config: the app builds one from the model config
    dirs["broken"].mkdir()
    (dirs["broken"] / "config.json").write_text(json.dumps({"model_type": "leae_autoencoder", "image_size": 30}))
    (dirs["broken"] / "model.safetensors").write_bytes(b"not a safetensors file")
    return {name: str(path) for name, path in dirs.items()}


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Test uploads: RGB, RGBA, 16-bit grey, and an image above the 4-megapixel cap."""
    root = tmp_path_factory.mktemp("uploads")
    y, x = np.mgrid[0:96, 0:128] / 96.0
    rgb = (np.stack([np.sin(7 * x) * 0.5 + 0.5, np.cos(5 * y) * 0.5 + 0.5, x * y / 1.4], -1) * 255).astype(np.uint8)
    paths = {"rgb": root / "rgb.png", "other": root / "other.png", "rgba": root / "rgba.png"}
    Image.fromarray(rgb).save(paths["rgb"])
    Image.fromarray(rgb[::-1, ::-1].copy()).save(paths["other"])
    alpha = (np.linspace(0, 255, 128)[None, :].repeat(96, 0)).astype(np.uint8)
    Image.fromarray(np.dstack([rgb, alpha]), mode="RGBA").save(paths["rgba"])
    paths["grey16"] = root / "grey16.png"
    Image.fromarray((x * 40000).astype(np.uint16)).save(paths["grey16"])
    big = np.linspace(0, 255, 2100, dtype=np.uint8)
    paths["huge"] = root / "huge.png"  # 2100×2100 = 4.4 MP
    Image.fromarray(np.dstack([np.outer(np.ones(2100, np.uint8), big)] * 3)).save(paths["huge"])
    # The ImageMask value: background, and one layer whose alpha marks the hole.
    layer = np.zeros((96, 128, 4), dtype=np.uint8)
    layer[30:70, 40:90] = (0, 0, 0, 255)
    paths["layer"] = root / "layer.png"
    Image.fromarray(layer, mode="RGBA").save(paths["layer"])
    paths["empty_layer"] = root / "empty_layer.png"
    Image.fromarray(np.zeros_like(layer), mode="RGBA").save(paths["empty_layer"])
    paths["full_layer"] = root / "full_layer.png"
    Image.fromarray(np.full_like(layer, 255), mode="RGBA").save(paths["full_layer"])
    return {name: str(path) for name, path in paths.items()}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def server(app, model_dirs, tmp_path):
    """The demo, running on 127.0.0.1 for one test, and a client for it."""
    demo = app.build_demo([model_dirs["spatial"], model_dirs["pooled"], model_dirs["broken"]])
    _, url, _ = demo.launch(
        server_name="127.0.0.1",
        server_port=_free_port(),
        prevent_thread_lock=True,
        show_error=True,
        quiet=True,
        max_file_size=app.MAX_FILE_SIZE,  # as app.main launches it
    )
    try:
        client = Client(url, verbose=False, download_files=str(tmp_path / "downloads"))
        yield url, client
    finally:
        demo.close()


def _png(path, size=None) -> np.ndarray:
    assert str(path).endswith(".png"), path
    with Image.open(path) as image:
        assert image.format == "PNG"
        if size is not None:
            assert image.size == size
        return np.asarray(image.convert("RGB"))


def _editor(background, layer=None):
    return {
        "background": handle_file(background),
        "layers": [handle_file(layer)] if layer else [],
        "composite": handle_file(background),
        "id": None,
    }


@pytest.mark.slow
def test_every_endpoint_returns_png_files(app, server, images, model_dirs):
    _, client = server
    names = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert {"/reconstruct", "/inpaint", "/interpolate", "/latent_brush"} <= names

    for name in ("rgb", "rgba", "grey16"):
        original, reconstruction, report = client.predict(handle_file(images[name]), api_name="/reconstruct")
        _png(original, (32, 32))
        _png(reconstruction, (32, 32))
        assert "PSNR" in report and "8×4×4" in report and "24.0×" in report

    masked, inpainted, compared, report = client.predict(
        _editor(images["rgb"], images["layer"]), app.NO_PRESET, api_name="/inpaint"
    )
    masked, inpainted = _png(masked, (32, 32)), _png(inpainted, (32, 32))
    assert "hole PSNR" in report and compared is None
    assert "never trained with holes" in report  # random tiny models: the tab says they cannot inpaint
    # The server's answer is the pipeline's, bit for bit (lossless PNG, mask taken from the layer's alpha).
    model = leae_hub.LeaeModel.from_pretrained(model_dirs["spatial"])
    hole = np.asarray(Image.open(images["layer"]).getchannel("A")) > 127
    expected = inference.inpaint(model, Image.open(images["rgb"]), hole)
    assert np.array_equal(inpainted, np.asarray(expected.image))
    assert np.array_equal(masked, np.asarray(expected.masked_input))
    # The tab opens on a rectangle preset: a first click, without painting, gives a result.
    editor = {"background": handle_file(images["rgb"]), "layers": [], "composite": None}  # as in the README
    _, _, _, report = client.predict(editor, api_name="/inpaint")
    assert re.search(r"hole 2[4-8]% of the 32×32 image", report)  # 25% up to nearest-neighbour rounding

    strip, frames, report = client.predict(
        handle_file(images["rgb"]), handle_file(images["other"]), 4, api_name="/interpolate"
    )
    _png(strip, (4 * 32, 32))
    assert len(frames) == 4 and all(_png(frame["image"], (32, 32)) is not None for frame in frames)
    assert "4 images" in report

    result, reference, regions, report = client.predict(
        handle_file(images["rgb"]), handle_file(images["other"]), 0.0, 0.0, 0.5, 0.5, 0.5, 0.5, 1.0, 1.0,
        api_name="/latent_brush",
    )  # fmt: skip
    result, reference = _png(result, (32, 32)), _png(reference, (32, 32))
    _png(regions)
    assert not np.array_equal(result, reference)
    assert "x 0–1, y 0–1 of the source → x 2–3, y 2–3" in report


@pytest.mark.slow
def test_twenty_concurrent_requests_all_succeed(server, images):
    _, client = server
    client.predict(handle_file(images["rgb"]), api_name="/reconstruct")  # load the model once
    done: dict[int, float] = {}
    jobs, started = [], {}
    for index in range(20):
        started[index] = time.perf_counter()
        callback = lambda *_, index=index: done.__setitem__(index, time.perf_counter())  # noqa: E731
        jobs.append(client.submit(handle_file(images["rgb"]), api_name="/reconstruct", result_callbacks=[callback]))
    results = [job.result(timeout=120) for job in jobs]
    assert len(results) == 20 and all("PSNR" in report for *_, report in results)
    for _ in range(500):  # each callback runs right after its job's result is set
        if len(done) == 20:
            break
        time.sleep(0.01)
    latencies = sorted(done[index] - started[index] for index in range(20))
    p50, p95 = statistics.median(latencies), latencies[int(np.ceil(0.95 * 20)) - 1]
    print(f"\n20 concurrent /reconstruct requests: p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms")


@pytest.mark.slow
def test_bad_input_reaches_the_client_as_a_message(server, images, model_dirs):
    _, client = server
    none = "none (use the painted mask)"
    with pytest.raises(AppError, match="mask is empty"):
        client.predict(_editor(images["rgb"], images["empty_layer"]), none, api_name="/inpaint")
    with pytest.raises(AppError, match="mask is empty"):
        client.predict(_editor(images["rgb"]), none, api_name="/inpaint")
    with pytest.raises(AppError, match="covers the whole image"):
        client.predict(_editor(images["rgb"], images["full_layer"]), none, api_name="/inpaint")
    with pytest.raises(AppError, match="no twin to compare with"):
        client.predict(_editor(images["rgb"]), "centre square, 25% of the area", "leae-tiny-spatial", True,
                       api_name="/inpaint")  # fmt: skip
    with pytest.raises(AppError, match="Upload an image"):
        client.predict(None, api_name="/reconstruct")
    with pytest.raises(AppError, match="needs a spatial latent"):
        client.predict(
            handle_file(images["rgb"]), handle_file(images["other"]), 0, 0, 1, 1, 0, 0, 1, 1, "leae-tiny-pooled",
            api_name="/latent_brush",
        )  # fmt: skip
    with pytest.raises(AppError, match="Could not load model 'leae-broken'") as error:
        client.predict(handle_file(images["rgb"]), "leae-broken", api_name="/reconstruct")
    assert model_dirs["broken"] not in str(error.value)  # the menu key, never the server path
    with pytest.raises(AppError, match="not in the list of choices|Unknown model"):  # gradio checks first
        client.predict(handle_file(images["rgb"]), model_dirs["spatial"], api_name="/reconstruct")
    with pytest.raises(AppError, match="maximum value 32|steps must be between 2 and 32"):  # gradio checks first
        client.predict(handle_file(images["rgb"]), handle_file(images["other"]), 40, api_name="/interpolate")
    # Huge uploads are downscaled with a note; the pooled model (no preprocessor config) still works elsewhere.
    _, _, report = client.predict(handle_file(images["huge"]), "leae-tiny-pooled", api_name="/reconstruct")
    assert "downscaled" in report and "2100×2100" in report
    # The server is still healthy.
    assert "PSNR" in client.predict(handle_file(images["rgb"]), api_name="/reconstruct")[2]


def test_model_menu_comes_from_the_zoo_faces_first(app, model_dirs, tmp_path, monkeypatch):
    cards = tmp_path / "model_cards"
    for name in ("leae-cifar10-32-self-teaching", "leae-celeba-64", "my-own-model"):
        shutil.copytree(model_dirs["spatial"], cards / name)
    (cards / "leae-celeba-128").mkdir()  # a card without weights
    (cards / "leae-celeba-128" / "README.md").write_text("# card only")
    (cards / "incomplete").mkdir()
    (cards / "incomplete" / "config.json").write_text("{}")
    monkeypatch.setattr(app, "MODEL_CARD_DIRS", [cards])
    monkeypatch.delenv("LEAE_HUB_ORG", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # the zoo's Hub repos: no network here
    ids = app.default_model_ids()
    local = [str(cards / name) for name in ("leae-celeba-64", "leae-cifar10-32-self-teaching", "my-own-model")]
    assert ids[:3] == local  # local folders first, in zoo order (faces first), names outside the zoo last
    hub = [
        repo
        for repo in zoo.trained_repo_ids()
        if repo.split("/")[1] not in {"leae-celeba-64", "leae-cifar10-32-self-teaching"}
    ]
    assert ids[3:] == hub and hub[0] == "leae-hub/leae-faces-128"
    assert not any("leae-celeba-128" in model for model in ids)  # never offered: it has no weights

    demo = app.build_demo()
    menu = demo.get_config_file()["components"]
    dropdown = next(c for c in menu if c.get("props", {}).get("label") == "Model")["props"]
    assert dropdown["value"] == "leae-celeba-64"  # the first face model
    assert [key for _, key in dropdown["choices"]][:3] == [
        "leae-celeba-64",
        "leae-cifar10-32-self-teaching",
        "my-own-model",
    ]
    assert all(str(tmp_path) not in str(choice) for choice in dropdown["choices"])
    # Without local face models, the first face model is the zoo's first Hub repo.
    monkeypatch.setattr(app, "MODEL_CARD_DIRS", [])
    demo = app.build_demo()
    dropdown = next(c for c in demo.get_config_file()["components"] if c.get("props", {}).get("label") == "Model")[
        "props"
    ]
    assert dropdown["value"] == "leae-hub/leae-faces-128"
    assert app.model_key(model_dirs["spatial"], {"leae-tiny-spatial"}).endswith("-leae-tiny-spatial")


def _hole_model(folder: Path, source: str, recipe: str | None, psnr_hole: float | None) -> str:
    """A copy of a tiny model, with the training config and eval.json a trained model ships."""
    shutil.copytree(source, folder)
    if recipe is not None:
        (folder / "training_config.yaml").write_text(f"recipe: {recipe}\nhole_ratio: 0.45\n")
    if psnr_hole is not None:
        holes = {"centre-25": {"model": {"psnr_hole": psnr_hole}, "mean_fill": {"psnr_hole": 12.0}}}
        (folder / "eval.json").write_text(json.dumps({"holes": holes}))
    return str(folder)


def test_inpaint_tab_offers_models_trained_with_holes_best_first(app, model_dirs, tmp_path):
    plain = _hole_model(tmp_path / "plain", model_dirs["spatial"], "self-teaching", 12.5)
    weak = _hole_model(tmp_path / "weak", model_dirs["spatial"], "baseline", 14.0)
    unscored = _hole_model(tmp_path / "unscored", model_dirs["spatial"], "masked", None)
    best = _hole_model(tmp_path / "best", model_dirs["spatial"], "masked", 16.5)
    assert [app.trained_with_holes(m) for m in (plain, weak, unscored, best)] == [False, True, True, True]
    assert app.hole_score(best) == 16.5 and app.hole_score(unscored) is None
    ranked, ready = app.inpainting_models([plain, weak, unscored, best])
    assert ready and ranked == [(best, 16.5), (weak, 14.0), (unscored, None)]  # never the self-teaching one
    demo = app.build_demo([plain, weak, unscored, best])
    components = demo.get_config_file()["components"]
    props = next(c for c in components if c.get("props", {}).get("label") == "Inpainting model")["props"]
    assert props["value"] == "best" and [key for _, key in props["choices"]] == ["best", "weak", "unscored"]
    assert "hole PSNR 16.5 dB" in props["choices"][0][0]
    preset = next(c for c in components if c.get("props", {}).get("label") == "Rectangle preset")["props"]
    assert preset["value"] == app.DEFAULT_PRESET != app.NO_PRESET
    # With no model trained with holes, all are offered and the tab says so.
    ranked, ready = app.inpainting_models([plain, model_dirs["spatial"]])
    assert not ready and [model for model, _ in ranked] == [plain, model_dirs["spatial"]]


def test_compare_shows_the_twin_on_the_same_hole(app, model_dirs, tmp_path):
    """Zoo twins (leAutoencoder and its masked-MSE baseline) staged as local folders: compare inpaints the same hole
    with both."""
    masked = _hole_model(tmp_path / "leae-cifar10-32-masked", model_dirs["spatial"], None, None)
    torch.manual_seed(1)
    other = leae_hub.LeaeModel(tiny_config())
    baseline = tmp_path / "leae-cifar10-32-baseline"
    other.save_pretrained(baseline)
    leae_hub.LeaeImageProcessor(image_size=32).save_pretrained(baseline)
    app.build_demo([masked, str(baseline)])
    background = Image.open(EXAMPLES / sorted(p.name for p in EXAMPLES.glob("*.jpg"))[0])
    editor = {"background": background, "layers": []}
    first, inpainted, compared, report = app.run_inpaint(editor, app.DEFAULT_PRESET, "leae-cifar10-32-masked", True)
    assert "**leae-cifar10-32-baseline** (compare)" in report and "never trained with holes" not in report
    inpainted, compared, first = _png(inpainted, (32, 32)), _png(compared, (32, 32)), _png(first, (32, 32))
    assert not np.array_equal(inpainted, compared)  # two models ...
    assert np.array_equal(inpainted[:6, :6], compared[:6, :6])  # ... one hole: the known corner is the input's


@pytest.mark.slow
def test_browser_opens_the_inpaint_tab_ready_and_compares_twins(app, model_dirs, tmp_path):
    """`?tab=inpaint&example=1&compare=1` in headless Chromium: the tab opens on its preset, inpaints the first example
    with the best inpainting model and its twin side by side (what spaces/leae-demo/screenshots.py captures)."""
    browser = _chromium()
    if browser is None:
        pytest.skip("Chromium not installed: apt-get install -y chromium chromium-driver")
    spec = importlib.util.spec_from_file_location("leae_demo_screenshots", APP_PATH.parent / "screenshots.py")
    shots = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(shots)
    masked = _hole_model(tmp_path / "leae-cifar10-32-masked", model_dirs["spatial"], None, None)
    baseline = _hole_model(tmp_path / "leae-cifar10-32-baseline", model_dirs["pooled"], None, None)
    demo = app.build_demo([model_dirs["spatial"], masked, baseline])
    _, url, _ = demo.launch(server_name="127.0.0.1", server_port=_free_port(), prevent_thread_lock=True, quiet=True)
    chromium = shots.Browser(browser, shots.WINDOWS["inpaint"])
    try:
        chromium.screenshot(url.rstrip("/") + "/?tab=inpaint&example=1&compare=1", shots.READY["inpaint"],
                            tmp_path / "inpaint.png", timeout=120)  # fmt: skip
        text = chromium.evaluate("document.body.innerText")
        images = chromium.evaluate("document.images.length")
    finally:
        chromium.close()
        demo.close()
    assert "leae-cifar10-32-baseline (compare): hole PSNR" in text, text[-1500:]
    assert "leae-cifar10-32-masked: hole PSNR" in text  # the first of the inpainting menu (no scores: menu order)
    assert "leae-tiny-spatial" not in text.split("Inpainting model")[1].split("Rectangle preset")[0]  # not offered
    assert images >= 4  # editor background, masked input, inpainting, the twin's


@pytest.mark.slow
def test_config_exposes_no_server_paths(server, model_dirs):
    """Models appear by menu key; examples only as copies in gradio's content-addressed cache (the one place gradio
    serves files from), never by their location on the server."""
    url, _ = server
    with urllib.request.urlopen(url + "config") as response:
        config = response.read().decode()
    assert "/work/" not in config and str(APP_PATH.parent) not in config
    assert not any(path in config for path in model_dirs.values())
    cache = re.escape(os.environ.get("GRADIO_TEMP_DIR") or str(Path(tempfile.gettempdir()) / "gradio"))
    outside = re.sub(cache + r"/[0-9a-f]{64}/[\w.-]+", "", config)
    assert "/tmp/" not in outside, re.findall(r".{60}/tmp/.{60}", outside)[:3]


@pytest.mark.slow
def test_uploads_that_are_not_images_get_a_clear_message(server, tmp_path):
    _, client = server
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    with pytest.raises(AppError, match=r"The image upload \('notes.png'\) is not an image this app can read") as error:
        client.predict(handle_file(str(text)), api_name="/reconstruct")
    assert str(tmp_path) not in str(error.value) and "/tmp/" not in str(error.value)
    with pytest.raises(AppError, match=r"The image \('notes.png'\) is not an image"):
        client.predict({"background": handle_file(str(text)), "layers": [], "composite": None}, api_name="/inpaint")
    bomb = tmp_path / "bomb.png"  # 200 MP of one colour: a few kB on disk
    Image.new("1", (20_000, 10_000)).save(bomb, optimize=True)
    with pytest.raises(AppError, match="too many pixels"):
        client.predict(handle_file(str(bomb)), api_name="/reconstruct")
    many = tmp_path / "many.png"  # 60 MP: decodes, but above the app's limit
    Image.new("L", (10_000, 6_000)).save(many)
    with pytest.raises(AppError, match=r"too many pixels: 10000×6000 is 60 MP, the limit is 50 MP"):
        client.predict(handle_file(str(many)), api_name="/reconstruct")


@pytest.mark.parametrize(
    ("preset", "size", "cells"), [("leae-cifar", 64, (1, 2, 7, 4)), ("leae-2m", 128, (2, 4, 14, 8))]
)
def test_latent_brush_on_faces(app, tmp_path, preset, size, cells):
    """The eyes box covers the eye rows of the latent grid (8×8 at 64 px, 16×16 at 128 px), the regions image outlines
    exactly those cells, and copying a face's eyes onto another changes the eyes, not the chin."""
    torch.manual_seed(0)
    folder = tmp_path / f"faces-{size}"
    model = leae_hub.LeaeModel(leae_hub.LeaeConfig.from_preset(preset, image_size=size))
    with torch.no_grad():
        model.decoder.head.weight.mul_(30)  # visible structure in the outputs of a random model
    model.save_pretrained(folder)
    leae_hub.LeaeImageProcessor(image_size=size).save_pretrained(folder)
    (key,) = [key for _, key in app.register_models([str(folder)])]
    target, source = (Image.open(path) for path in app.example_pairs(list(app.example_images().values()))[0])
    box = app.FACE_REGIONS["eyes"]
    result, reference, regions, report = app.run_latent_brush(target, source, *box, *box, key)
    grid = size // 8
    x0, y0, x1, y1 = cells
    assert f"x {x0}–{x1 - 1}, y {y0}–{y1 - 1} of the source → x {x0}–{x1 - 1}, y {y0}–{y1 - 1}" in report
    assert f"latent grid {grid}×{grid}" in report
    result, reference = _png(result, (size, size)).astype(int), _png(reference, (size, size)).astype(int)
    change = np.abs(result - reference).mean(axis=2)
    cell = size // grid
    eyes = change[y0 * cell : y1 * cell, x0 * cell : x1 * cell].mean()
    chin = change[-2 * cell :, :].mean()
    assert eyes > 0 and eyes > 5 * chin, (eyes, chin)
    # The regions image: source | 8-px gap | target, each enlarged to 256 px; the outline sits on the cell edges.
    strip = _png(regions)
    scale = app.DISPLAY_SIZE / grid
    assert strip.shape == (app.DISPLAY_SIZE, 2 * app.DISPLAY_SIZE + 8, 3)
    row = int((y0 + y1) / 2 * scale)
    orange, blue = (0xE4, 0x57, 0x2E), (0x1F, 0x77, 0xB4)
    assert tuple(strip[row, int(x0 * scale) + 1]) == orange
    assert tuple(strip[row, app.DISPLAY_SIZE + 8 + int(x0 * scale) + 1]) == blue
    assert tuple(strip[row, int(x0 * scale) + 6]) != orange  # a 3-px outline, not a filled box


def test_face_examples_are_few_licensed_and_paired(app):
    pictures = app.example_images()
    assert 2 <= len(pictures) <= 8
    names = list(pictures)
    assert all(name.startswith("utkface-") for name in names)  # CelebA's agreement forbids republishing its images
    for path in pictures.values():
        with Image.open(path) as image:
            assert image.size == (128, 128), path
    pairs = app.example_pairs(list(pictures.values()))
    assert len(pairs) >= 2 and all(Path(a).name.split("-")[0] == Path(b).name.split("-")[0] for a, b in pairs)
    licence = (EXAMPLES / "LICENSE.md").read_text()
    for needle in ("non-commercial research", "Zhang", "CVPR 2017", "research demo", "No CelebA images"):
        assert needle in licence, needle
    assert sorted(p.name for p in EXAMPLES.iterdir()) == sorted(
        [*(Path(p).name for p in pictures.values()), "LICENSE.md"]
    )


def test_cap_pixels_and_editor_mask(app):
    big = Image.new("I;16", (3000, 2000))
    small, note = app.cap_pixels(big)
    assert small.width * small.height <= app.MAX_PIXELS and small.size[0] / small.size[1] == pytest.approx(1.5, 1e-2)
    assert "downscaled" in note
    assert app.cap_pixels(Image.new("RGB", (100, 100)))[1] is None
    background = Image.new("RGBA", (80, 40))
    layer = Image.new("RGBA", (160, 80))  # a canvas at twice the size: resized to the background
    layer.paste((0, 0, 0, 255), (0, 0, 20, 20))
    _, hole = app.editor_mask({"background": background, "layers": [layer]}, app.NO_PRESET)
    assert hole.shape == (40, 80) and hole[:10, :10].all() and hole.sum() == 100
    _, hole = app.editor_mask({"background": background, "layers": []}, "centre square, 25% of the area")
    assert hole.sum() == 20 * 20 and hole[10:30, 30:50].all()  # a quarter of the 40×40 centre crop
    with pytest.raises(gr.Error):
        app.editor_mask({"background": None, "layers": []}, app.NO_PRESET)


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if path := shutil.which(name):
            return path
    return "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None


@pytest.mark.slow
def test_browser_renders_the_five_tabs(server, tmp_path):
    browser = _chromium()
    if browser is None:
        pytest.skip("Chromium not installed: apt-get install -y chromium chromium-driver")
    url, _ = server
    flags = [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--virtual-time-budget=20000",
    ]  # fmt: skip
    shot = tmp_path / "shot.png"
    subprocess.run(
        [browser, *flags, f"--user-data-dir={tmp_path / 'profile1'}", f"--screenshot={shot}", "--window-size=1280,900",
         url],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    with Image.open(shot) as image:
        pixels = np.asarray(image.convert("L"), dtype=np.float32)
    assert pixels.shape == (900, 1280) and pixels.std() > 10, "the screenshot is blank"
    dom = subprocess.run(
        [browser, *flags, f"--user-data-dir={tmp_path / 'profile2'}", "--dump-dom", url.rstrip("/") + "/?tab=inpaint"],
        check=True, capture_output=True, text=True, timeout=120,
    ).stdout  # fmt: skip
    for label in TAB_LABELS:
        assert label in dom, f"tab {label!r} missing from the page"
    # ?tab=inpaint opened the Inpaint tab.
    assert re.search(r'aria-selected="true"[^>]*data-tab-id="inpaint"', dom)


@pytest.mark.slow
@pytest.mark.usefixtures("one_thread")  # the lab is many tiny tensor operations
def test_lab_endpoints_train_live_and_report(server, app):
    _, client = server
    names = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert {"/lab_mog", "/lab_noisy_tv"} <= names
    landscape, report = client.predict("jepa", 50, 3, api_name="/lab_mog")
    pixels = _png(landscape)
    assert pixels.shape == (200 + 2 * 14, 3 * 200 + 2 * 6, 3) and pixels.std() > 10  # three panels, titled
    assert "**jepa**, seed 3: step 50 of 50" in report and "effective rank" in report
    run = mog.train("jepa", seed=3, steps=50)  # the tab trains exactly what the library trains
    assert f"loss {sum(run.losses[-5:]) / 5:.4g} (mean of the last 5 steps)" in report
    _, report = client.predict("dsm", 50, 0, api_name="/lab_mog")
    assert "(128-d)" in report  # the energy models' embedding is their hidden layer

    series, table = client.predict(8.0, 50, 0, api_name="/lab_noisy_tv")
    assert _png(series).shape == (260, 720, 3)
    assert "σ = 8, seed 0, 50 steps per model" in table and table.endswith("All five models trained.")
    rows = dict(re.findall(r"^\| \*?([\w ()_-]+?)\*? \| (-?\d\.\d{3}) \|", table, flags=re.M))
    assert set(noisy_tv.MODELS) <= set(rows) and float(rows["true s_t"]) > 0.9
    (expected,), _ = noisy_tv.run_sweep([8.0], [0], 50, ("AR",))
    assert rows["AR"] == f"{expected.r2['AR']:.3f}"


@pytest.mark.slow
@pytest.mark.usefixtures("one_thread")  # the lab is many tiny tensor operations
def test_lab_rejects_bad_settings_with_a_message(server, app):
    _, client = server
    with pytest.raises(AppError, match="not in the list of choices|Unknown method"):  # gradio checks first
        client.predict("nope", 50, 0, api_name="/lab_mog")
    with pytest.raises(AppError, match="minimum value 50|Steps must be a whole number from 50 to 2000"):
        client.predict("jepa", 10, 0, api_name="/lab_mog")
    with pytest.raises(AppError, match=r"maximum value 10|σ must be from 0 to 10"):
        client.predict(11.0, 50, 0, api_name="/lab_noisy_tv")
    # The same checks when gradio's are bypassed (a direct call), with the value and the allowed range.
    for call, message in (
        (lambda: list(app.run_lab_mog("jepa", 10, 0)), "Steps must be a whole number from 50 to 2000, got 10"),
        (lambda: list(app.run_lab_mog("jepa", 60.5, 0)), "got 60.5"),
        (lambda: list(app.run_lab_mog("nope", 50, 0)), "Unknown method 'nope': choose one of energy"),
        (lambda: list(app.run_lab_mog("jepa", 50, -1)), "Seed must be a whole number from 0"),
        (lambda: list(app.run_lab_noisy_tv(-1, 50, 0)), "σ must be from 0 to 10, got -1"),
        (lambda: list(app.run_lab_noisy_tv("x", 50, 0)), "σ must be a number, got 'x'"),
    ):
        with pytest.raises(gr.Error, match=re.escape(message)):
            call()


def test_api_info_exposes_no_server_paths(server, model_dirs):
    """The API schema (what `view_api` reads) names no server folder: not the app's, the models' or a temp file."""
    url, client = server
    with urllib.request.urlopen(url + "gradio_api/info") as response:
        info = response.read().decode()
    assert "/lab_mog" in info and "/reconstruct" in info
    for path in (str(APP_PATH.parent), *model_dirs.values(), tempfile.gettempdir() + "/", "/work/"):
        assert path not in info, path


@pytest.mark.slow
def test_too_large_uploads_are_refused_with_the_limit(server, app):
    url, client = server
    limit = 25 * 1024 * 1024
    assert app.MAX_FILE_SIZE == "25mb"
    files = {"files": ("big.png", b"\0" * (limit + 1), "image/png")}
    response = httpx.post(url + "gradio_api/upload", files=files, timeout=60)
    assert response.status_code == 413 and f"maximum allowed size of {limit} bytes" in response.text
    assert tempfile.gettempdir() not in response.text


def test_readme_documents_the_limits(app, model_dirs):
    text = " ".join(README.read_text(encoding="utf-8").split())
    for needle in (
        f"{app.MAX_PIXELS / 1e6:.0f} megapixels are downscaled",
        f"above {app.MAX_UPLOAD_PIXELS / 1e6:.0f} megapixels (or {app.MAX_FILE_SIZE.upper()[:-2]} MB) refused",
        f"queue holds at most {app.QUEUE_MAX_SIZE} waiting requests",
        f"{app.CONCURRENCY_LIMIT} run at a time",
        "| **Lab** |",
        "`/lab_mog`",
        "`/lab_noisy_tv`",
    ):
        assert needle in text, needle
    demo = app.build_demo([model_dirs["spatial"]])
    assert demo._queue.max_size == app.QUEUE_MAX_SIZE


@pytest.mark.slow
@pytest.mark.usefixtures("one_thread")  # the lab is many tiny tensor operations
def test_browser_trains_in_the_lab_tab(app, model_dirs, tmp_path, monkeypatch):
    """A visitor's clicks in headless Chromium: Train draws the landscape, Compare fills the noisy-TV table and figure
    (spaces/leae-demo/screenshots.py drives the browser; its full-size run is docs/screenshots/lab.png)."""
    browser = _chromium()
    if browser is None:
        pytest.skip("Chromium not installed: apt-get install -y chromium chromium-driver")
    monkeypatch.setattr(lab_endpoints, "LAB_MOG_STEPS", (50, 2000, 50))  # small runs: seconds, not minutes
    monkeypatch.setattr(lab_endpoints, "LAB_TV_STEPS", (50, 2000, 50))
    spec = importlib.util.spec_from_file_location("leae_demo_screenshots", APP_PATH.parent / "screenshots.py")
    shots = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(shots)
    demo = app.build_demo([model_dirs["spatial"]])
    _, url, _ = demo.launch(server_name="127.0.0.1", server_port=_free_port(), prevent_thread_lock=True, quiet=True)
    try:
        shot = tmp_path / "lab.png"
        shots.lab_screenshot(url, shot, browser, mog_steps=50, timeout=120)
    finally:
        demo.close()
    with Image.open(shot) as image:
        pixels = np.asarray(image.convert("RGB"), dtype=np.float32)
    assert pixels.shape[1] == shots.LAB_WINDOW[0] and pixels.std() > 10
    # The landscape's colour map is on the page: inferno's dark purples and bright yellows.
    dark_purple = (pixels[..., 2] > pixels[..., 1] + 40) & (pixels[..., 0] > 40) & (pixels[..., 0] < 140)
    yellow = (pixels[..., 0] > 220) & (pixels[..., 1] > 150) & (pixels[..., 2] < 120)
    assert dark_purple.sum() > 2000 and yellow.sum() > 200
