import math

import numpy as np
import pytest
import torch
from conftest import tiny_config
from PIL import Image

from leae_hub import LeaeConfig, LeaeImageProcessor, LeaeModel
from leae_hub.inference import (
    BrushResult,
    InpaintResult,
    InterpolationResult,
    ReconstructionResult,
    inpaint,
    interpolate,
    latent_brush,
    make_strip,
    psnr,
    reconstruct,
)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    model = LeaeModel(tiny_config()).eval()
    # Non-trivial running statistics, so eval mode (running stats) and train mode (batch stats) differ.
    model.encoder.latent_norm.running_mean.uniform_(-0.5, 0.5)
    model.encoder.latent_norm.running_var.uniform_(0.5, 2.0)
    # A random decoder gives nearly flat grey images; a steeper head makes changes visible after 8-bit rounding.
    with torch.no_grad():
        model.decoder.head.weight.mul_(30)
    return model


@pytest.fixture(scope="module")
def pooled_model():
    torch.manual_seed(1)
    config = LeaeConfig.from_preset(
        "leae-cifar", hidden_channels=16, latent_type="pooled", latent_channels=16, pooled_map_channels=16
    )
    return LeaeModel(config).eval()


def _photo(width=48, height=40, seed=0, mode="RGB"):
    """A smooth random image (not square, so the resize + centre crop matters)."""
    rng = np.random.default_rng(seed)
    x, y = np.meshgrid(np.linspace(0, 1, width), np.linspace(0, 1, height))
    channels = [
        np.sin(6 * x * rng.uniform(0.5, 2) + rng.uniform(0, 3)) * np.cos(5 * y * rng.uniform(0.5, 2)) for _ in "rgb"
    ]
    array = ((np.stack(channels, -1) + 1) / 2 * 255).astype(np.uint8)
    return Image.fromarray(array).convert(mode)


# --- psnr -------------------------------------------------------------------------------------------------------------


def test_psnr_identical_is_inf():
    x = torch.rand(3, 8, 8)
    assert psnr(x, x.clone()) == math.inf
    image = _photo()
    assert psnr(image, image.copy()) == math.inf


@pytest.mark.parametrize("data_range", [1.0, 255.0])
def test_psnr_matches_the_formula_for_a_known_mse(data_range):
    a = np.zeros((4, 4))
    b = np.full((4, 4), 0.1 * data_range)  # MSE = 0.01·range² → 20 dB
    assert psnr(a, b, data_range=data_range) == pytest.approx(20.0, abs=1e-9)
    b[0, 0] = 0.3 * data_range  # MSE = (15·0.01 + 0.09)/16·range²
    expected = 10 * math.log10(1 / ((15 * 0.01 + 0.09) / 16))
    assert psnr(torch.from_numpy(a), torch.from_numpy(b), data_range=data_range) == pytest.approx(expected)


def test_psnr_mask_counts_only_masked_elements_and_checks_shapes():
    a, b = torch.zeros(1, 4, 4), torch.zeros(1, 4, 4)
    b[..., :2] = 0.1  # error only in the left half
    mask = torch.zeros(1, 4, 4)
    mask[..., :2] = 1
    assert psnr(a, b, mask=mask) == pytest.approx(20.0, abs=1e-5)
    assert psnr(a, b, mask=1 - mask) == math.inf
    with pytest.raises(ValueError, match="same shape"):
        psnr(torch.zeros(3, 4, 4), torch.zeros(3, 4, 5))
    with pytest.raises(ValueError, match="empty mask"):
        psnr(a, b, mask=torch.zeros(1, 4, 4))


# --- reconstruct ------------------------------------------------------------------------------------------------------


def test_reconstruct_returns_model_size_images_and_numbers(model):
    result = reconstruct(model, [_photo(seed=0), _photo(64, 64, seed=1, mode="RGBA"), _photo(seed=2, mode="L")])
    assert isinstance(result, ReconstructionResult)
    assert len(result.images) == len(result.inputs) == len(result.psnr) == 3
    for image in result.images + result.inputs:
        assert isinstance(image, Image.Image) and image.size == (32, 32) and image.mode == "RGB"
    assert all(math.isfinite(value) and value > 0 for value in result.psnr)
    assert result.latent_shape == (8, 4, 4)
    assert result.compression_ratio == pytest.approx(3 * 32 * 32 / 128)


def test_reconstruct_matches_the_model_and_accepts_tensors(model):
    processor = LeaeImageProcessor(image_size=32)
    pixel_values = processor(_photo()).pixel_values
    with torch.no_grad():
        expected = processor.postprocess(model(pixel_values).reconstruction)[0]
    for images in (pixel_values, pixel_values[0], [pixel_values[0]], _photo()):
        result = reconstruct(model, images)
        assert np.array_equal(np.asarray(result.images[0]), np.asarray(expected))
    assert psnr(result.inputs[0], processor.postprocess(pixel_values)[0]) == math.inf
    # The reported PSNR is the float one, before 8-bit rounding: close to the PSNR of the returned images.
    assert result.psnr[0] == pytest.approx(psnr(result.inputs[0], result.images[0]), abs=0.1)


def test_reconstruct_uses_the_model_channels_for_grey_models():
    grey = LeaeModel(tiny_config(in_channels=1)).eval()
    result = reconstruct(grey, _photo(mode="RGB"))
    assert result.images[0].mode == "L" and result.images[0].size == (32, 32)
    with pytest.raises(ValueError, match="processor"):
        reconstruct(grey, _photo(), processor=LeaeImageProcessor(image_size=32, num_channels=3))


def test_train_mode_is_restored_and_running_stats_untouched(model):
    model.train()
    try:
        before = model.encoder.latent_norm.running_mean.clone()
        eval_result = reconstruct(model, _photo())
        assert model.training and all(module.training for module in model.modules())
        assert torch.equal(model.encoder.latent_norm.running_mean, before)
        inpaint(model, _photo(), np.pad(np.ones((10, 10)), 11))
        interpolate(model, _photo(seed=1), _photo(seed=2), steps=3)
        latent_brush(model, _photo(seed=1), _photo(seed=2), (0, 0, 0.5, 0.5), (0.5, 0.5, 1, 1))
        assert model.training
        assert torch.equal(model.encoder.latent_norm.running_mean, before)
    finally:
        model.eval()
    assert not model.training
    # Eval semantics were used even though the model was in train mode.
    assert np.array_equal(np.asarray(reconstruct(model, _photo()).images[0]), np.asarray(eval_result.images[0]))


# --- inpaint ----------------------------------------------------------------------------------------------------------


def _hole_at_image_size(width=48, height=40):
    mask = np.zeros((height, width), dtype=bool)
    mask[12:28, 18:34] = True
    return mask


def test_inpaint_keeps_known_pixels_exactly(model):
    image = _photo()
    result = inpaint(model, image, _hole_at_image_size())
    assert isinstance(result, InpaintResult)
    for picture in (result.image, result.masked_input, result.input):
        assert picture.size == (32, 32) and picture.mode == "RGB"
    assert result.mask.mode == "L" and result.mask.size == (32, 32)
    hole = np.asarray(result.mask) > 0
    assert 0 < hole.mean() < 1 and result.hole_fraction == pytest.approx(hole.mean())
    original = np.asarray(
        LeaeImageProcessor(image_size=32).postprocess(LeaeImageProcessor(image_size=32)(image).pixel_values)[0]
    )
    assert np.array_equal(np.asarray(result.input), original)
    assert np.array_equal(np.asarray(result.image)[~hole], original[~hole])
    assert not np.array_equal(np.asarray(result.image)[hole], original[hole])
    assert np.all(np.asarray(result.masked_input)[hole] == 128)  # the hole is shown in mid grey
    assert math.isfinite(result.psnr_hole) and result.psnr_total > result.psnr_hole


def test_inpaint_mask_follows_the_image_geometry(model):
    # 48×40 image → shorter side 40 → 32, width 38.4 → 38, crop 3 columns on the left: hole x 18:34 → ~12..24.
    image_mask = _hole_at_image_size()
    at_image_size = inpaint(model, _photo(), image_mask).mask
    at_half_size = inpaint(model, _photo(), image_mask[::2, ::2]).mask  # same aspect ratio, smaller
    expected = np.zeros((32, 32), dtype=bool)
    expected[10:22, 12:24] = True
    assert (np.asarray(at_image_size) > 0).sum() == pytest.approx(expected.sum(), rel=0.2)
    assert (np.asarray(at_image_size) > 0)[expected].mean() > 0.8
    assert np.array_equal(np.asarray(at_image_size), np.asarray(at_half_size))
    model_size = np.zeros((32, 32), dtype=np.uint8)
    model_size[4:9, 20:30] = 255
    assert np.array_equal(np.asarray(inpaint(model, _photo(), model_size).mask), model_size)
    with pytest.raises(ValueError, match="aspect ratio"):
        inpaint(model, _photo(), np.ones((10, 30)))


def test_inpaint_mask_formats(model):
    image = _photo()
    hole = _hole_at_image_size()
    reference = np.asarray(inpaint(model, image, hole).image)
    rgba = np.zeros((*hole.shape, 4), dtype=np.uint8)
    rgba[..., 3] = hole * 255  # painted strokes: alpha 255, colour irrelevant
    rgba[..., :3] = 17
    masks = [
        Image.fromarray(rgba, mode="RGBA"),
        Image.fromarray(hole.astype(np.uint8) * 255, mode="L"),
        Image.fromarray(hole.astype(np.uint8) * 255, mode="L").convert("1"),
        hole.astype(np.float32),
        hole.astype(np.uint8) * 255,
        torch.from_numpy(hole),
        torch.from_numpy(hole).float()[None, None],
    ]
    for mask in masks:
        assert np.array_equal(np.asarray(inpaint(model, image, mask).image), reference), type(mask)
    # An image tensor [1, C, H, W] works like the PIL image.
    tensor = torch.from_numpy(np.array(image)).permute(2, 0, 1)[None].float() / 255
    assert np.array_equal(np.asarray(inpaint(model, tensor, hole).image), reference)


@pytest.mark.parametrize(
    ("mask", "message"),
    [
        (np.zeros((40, 48)), "empty"),
        (Image.new("RGBA", (48, 40), (0, 0, 0, 0)), "empty"),
        (np.ones((40, 48)), "whole image"),
        (Image.new("RGBA", (48, 40), (0, 0, 0, 255)), "whole image"),
    ],
)
def test_inpaint_refuses_empty_and_full_masks(model, mask, message):
    with pytest.raises(ValueError, match=message):
        inpaint(model, _photo(), mask)


def test_inpaint_tiny_stroke_lost_at_model_size_is_reported(model):
    mask = np.zeros((400, 480), dtype=bool)
    mask[201, 241] = True  # one pixel of a 10× larger image: gone after nearest resizing to 32 px
    with pytest.raises(ValueError, match="empty at the model's 32×32"):
        inpaint(model, _photo(480, 400), mask)


# --- interpolate ------------------------------------------------------------------------------------------------------


def test_interpolate_endpoints_are_the_reconstructions(model):
    a, b = _photo(seed=3), _photo(seed=4, mode="L")
    result = interpolate(model, a, b, steps=5)
    assert isinstance(result, InterpolationResult)
    assert len(result.images) == 5 and result.weights == pytest.approx([0, 0.25, 0.5, 0.75, 1])
    assert all(image.size == (32, 32) for image in result.images)
    assert result.strip.size == (5 * 32, 32)
    recon = reconstruct(model, [a, b]).images
    for frame, expected in ((result.images[0], recon[0]), (result.images[-1], recon[1])):
        difference = np.abs(np.asarray(frame, dtype=int) - np.asarray(expected, dtype=int))
        assert difference.max() <= 1  # batch-size-dependent float rounding at most
    assert not np.array_equal(np.asarray(result.images[2]), np.asarray(result.images[0]))
    assert np.array_equal(np.asarray(result.strip)[:, 64:96], np.asarray(result.images[2]))


def test_interpolate_pooled_and_bad_steps(model, pooled_model):
    assert len(interpolate(pooled_model, _photo(seed=1), _photo(seed=2), steps=2).images) == 2
    for steps in (1, 0, 2.5):
        with pytest.raises(ValueError, match="steps"):
            interpolate(model, _photo(), _photo(), steps=steps)
    with pytest.raises(ValueError, match="one image"):
        interpolate(model, torch.rand(2, 3, 32, 32), _photo())


# --- latent brush -----------------------------------------------------------------------------------------------------


def test_latent_brush_same_region_of_the_same_image_is_the_reconstruction(model):
    image = _photo(seed=5)
    result = latent_brush(model, image, image, (0.25, 0.25, 0.75, 0.75), (0.25, 0.25, 0.75, 0.75))
    assert isinstance(result, BrushResult)
    assert result.cells_src == result.cells_dst == (1, 1, 3, 3)
    recon = np.asarray(reconstruct(model, image).images[0], dtype=int)
    assert np.abs(np.asarray(result.image, dtype=int) - recon).max() <= 1
    assert np.array_equal(np.asarray(result.image), np.asarray(result.target_reconstruction))


def test_latent_brush_changes_only_the_painted_neighbourhood(model):
    target, source = _photo(64, 64, seed=6), _photo(64, 64, seed=7)
    result = latent_brush(model, target, source, (0.0, 0.0, 0.25, 0.25), (0.75, 0.75, 1.0, 1.0))
    assert result.cells_src == (0, 0, 1, 1) and result.cells_dst == (3, 3, 4, 4)
    changed = np.abs(np.asarray(result.image, dtype=int) - np.asarray(result.target_reconstruction, dtype=int)) > 1
    assert changed.any()
    # One latent cell covers 8×8 pixels; the 3-conv decoder spreads a change by a few cells at most.
    assert not changed[:8, :8].any()


def test_latent_brush_resizes_patches_and_validates_regions(model):
    target, source = _photo(seed=8), _photo(seed=9)
    for mode in ("nearest", "bilinear"):
        result = latent_brush(model, target, source, (0, 0, 0.5, 0.5), (0, 0, 1, 1), mode=mode)
        assert result.cells_src == (0, 0, 2, 2) and result.cells_dst == (0, 0, 4, 4)
        assert result.image.size == (32, 32)
    # A sliver still covers one cell.
    assert latent_brush(model, target, source, (0.5, 0.5, 0.51, 0.51), (0, 0, 0.01, 0.01)).cells_src == (2, 2, 3, 3)
    for box in ((0.5, 0, 0.4, 1), (0, 0, 1.5, 1), (0, 0, 1), "abcd"):
        with pytest.raises(ValueError, match="region_src"):
            latent_brush(model, target, source, box, (0, 0, 1, 1))


def test_latent_brush_needs_a_spatial_latent(pooled_model):
    with pytest.raises(ValueError, match="latent brush needs a spatial latent"):
        latent_brush(pooled_model, _photo(), _photo(), (0, 0, 1, 1), (0, 0, 1, 1))


def test_make_strip():
    strip = make_strip([Image.new("L", (4, 3), 10), Image.new("RGB", (5, 6), (1, 2, 3))], gap=2)
    assert strip.mode == "RGB" and strip.size == (11, 6)
    assert strip.getpixel((0, 0)) == (10, 10, 10) and strip.getpixel((0, 5)) == (255, 255, 255)
    assert strip.getpixel((6, 5)) == (1, 2, 3)
    with pytest.raises(ValueError):
        make_strip([])
