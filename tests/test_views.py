"""Tests of the views: crop-resize, masks, detail stack, JEPA augmentations and the registry."""

from __future__ import annotations

import pytest
import torch

from leae_hub.views import (
    VIEW_NAMES,
    VIEWS,
    additive_noise,
    apply_hole,
    boost_saturation_contrast,
    box_blur,
    build_view,
    centred_hole_mask,
    check_hole_options,
    crop_resize,
    detail_stack,
    dilate,
    erode,
    high_pass,
    inpainting_view,
    invert,
    joint_view,
    local_contrast_normalize,
    patch_mask,
    pixel_mask,
    random_affine,
    random_crop_boxes,
    random_hole_mask,
    register_view,
    sobel_edges,
    square_hole_mask,
)


def _seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _images(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(*shape, generator=_seeded(seed))


# ----------------------------------------------------------------------------------------------------- crop-resize


def test_crop_boxes_are_inside_the_image_with_the_right_side() -> None:
    boxes = random_crop_boxes(64, 0.15, _seeded())
    assert boxes.shape == (64, 4)
    assert (boxes >= 0).all() and (boxes <= 1).all()
    torch.testing.assert_close(boxes[:, 2:] - boxes[:, :2], torch.full((64, 2), 0.15))
    assert boxes[:, 0].std() > 0.1  # positions actually vary


def test_crop_resize_applies_the_same_box_to_every_tensor() -> None:
    x = _images(4, 3, 32, 32)
    crop_x, crop_clone = crop_resize(x, x.clone(), generator=_seeded())
    torch.testing.assert_close(crop_x, crop_clone, rtol=0, atol=0)
    constant = torch.full((4, 1, 32, 32), 0.3)
    _, crop_constant = crop_resize(x, constant, generator=_seeded())
    torch.testing.assert_close(crop_constant, torch.full_like(crop_constant, 0.3))


def test_crop_resize_sizes_and_box_reuse() -> None:
    x = _images(2, 3, 32, 32)
    assert crop_resize(x, generator=_seeded()).shape == (2, 3, 32, 32)
    small = crop_resize(x, output_size=(8, 12), generator=_seeded())
    assert small.shape == (2, 3, 8, 12)
    boxes = random_crop_boxes(2, 0.5, _seeded(3))
    torch.testing.assert_close(crop_resize(x, boxes=boxes), crop_resize(x, side_ratio=0.5, generator=_seeded(3)))


def test_crop_resize_full_box_is_the_identity() -> None:
    x = _images(2, 3, 17, 23)
    torch.testing.assert_close(crop_resize(x, side_ratio=1.0, generator=_seeded()), x, rtol=0, atol=1e-5)


def test_crop_resize_of_an_exact_pixel_box_matches_the_pixels() -> None:
    x = _images(1, 1, 8, 8)
    boxes = torch.tensor([[0.25, 0.5, 0.75, 1.0]])  # columns 2..5, rows 4..7
    torch.testing.assert_close(crop_resize(x, boxes=boxes, output_size=(4, 4)), x[:, :, 4:8, 2:6], rtol=0, atol=1e-5)


def test_crop_resize_passes_gradients_to_the_input() -> None:
    x = _images(2, 3, 16, 16).requires_grad_(True)
    crop_resize(x, side_ratio=0.3, generator=_seeded()).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0 and torch.isfinite(x.grad).all()


def test_crop_resize_rejects_bad_arguments() -> None:
    x = _images(2, 3, 16, 16)
    with pytest.raises(ValueError, match="side_ratio"):
        crop_resize(x, side_ratio=0.0)
    with pytest.raises(ValueError, match="batch size"):
        crop_resize(x, x[:1])
    with pytest.raises(ValueError, match="boxes"):
        crop_resize(x, boxes=torch.zeros(3, 4))


# ----------------------------------------------------------------------------------------------------------- masks


def test_square_hole_mask_area_and_shape() -> None:
    mask = square_hole_mask(16, 32, 32, area_ratio=0.35, generator=_seeded())
    assert mask.shape == (16, 1, 32, 32)
    side = round(0.35**0.5 * 32)  # 19
    assert (mask.sum(dim=(1, 2, 3)) == side * side).all()
    assert mask.mean().item() == pytest.approx(0.35, abs=0.02)
    rows = mask.amax(dim=3).squeeze(1)  # [B, H]: a square is one contiguous block of rows
    assert (rows.sum(dim=1) == side).all()
    assert len({tuple(m.nonzero()[0].tolist()) for m in mask}) > 1  # positions vary


def test_hole_fill_modes() -> None:
    mask = square_hole_mask(2, 16, 16, area_ratio=0.25, generator=_seeded())
    x = mask.expand(2, 3, 16, 16).clone()  # hole pixels 1.0, visible pixels 0.0
    visible_fill = apply_hole(x, mask, fill="visible-mean")
    torch.testing.assert_close(visible_fill, torch.zeros_like(x))
    image_fill = apply_hole(x, mask, fill="image-mean")  # the hole leaks into the fill: its value is the hole area
    torch.testing.assert_close(image_fill, mask.expand_as(x) * 0.25)
    with pytest.raises(ValueError, match="fill"):
        apply_hole(x, mask, fill="zeros")


def test_inpainting_view_keeps_visible_pixels_and_is_reproducible() -> None:
    x = _images(4, 3, 16, 16)
    masked, mask = inpainting_view(x, generator=_seeded(5))
    torch.testing.assert_close(masked * (1 - mask), x * (1 - mask))
    again, _ = inpainting_view(x, generator=_seeded(5))
    torch.testing.assert_close(masked, again, rtol=0, atol=0)
    other, _ = inpainting_view(x, generator=_seeded(6))
    assert not torch.equal(masked, other)


@pytest.mark.slow
def test_random_hole_mask_sizes_shapes_and_reproducibility() -> None:
    mask = random_hole_mask(400, 64, 64, max_area=0.45, generator=_seeded(1))
    assert mask.shape == (400, 1, 64, 64) and set(mask.unique().tolist()) <= {0.0, 1.0}
    area = mask.flatten(1).mean(dim=1)
    assert (area > 0).all() and (area < 1).all()
    rows, cols = mask.amax(dim=3).squeeze(1).sum(dim=1), mask.amax(dim=2).squeeze(1).sum(dim=1)
    is_rectangle = mask.flatten(1).sum(dim=1) == rows * cols  # a filled box: area = height · width of its extent
    # About half are rectangles (a stroke is almost never exactly its bounding box), of areas spread over [0.04, 0.45].
    assert 0.4 < is_rectangle.float().mean().item() < 0.65
    rect_area = area[is_rectangle]
    assert rect_area.min().item() == pytest.approx(0.04, abs=0.01) and rect_area.max().item() <= 0.45 + 0.01
    assert rect_area.std().item() > 0.08  # sizes vary, not one square
    aspect = (rows / cols)[is_rectangle]
    assert aspect.min().item() < 0.7 and aspect.max().item() > 1.4  # tall and wide boxes
    tops = mask[is_rectangle].squeeze(1).amax(dim=2).argmax(dim=1)
    assert tops.unique().numel() > 10  # positions vary
    torch.testing.assert_close(random_hole_mask(400, 64, 64, 0.45, generator=_seeded(1)), mask, rtol=0, atol=0)
    assert not torch.equal(random_hole_mask(400, 64, 64, 0.45, generator=_seeded(2)), mask)
    with pytest.raises(ValueError, match="max_area"):
        random_hole_mask(2, 64, 64, max_area=1.0)


def test_centred_hole_mask_is_the_centre_square() -> None:
    mask = centred_hole_mask(2, 128, 128, 0.25)
    assert torch.equal(mask[0], mask[1]) and mask[0].sum().item() == 64 * 64
    assert mask[0, 0, 32:96, 32:96].all() and mask[0, 0, :32].sum() == 0 and mask[0, 0, 96:].sum() == 0


def test_inpainting_view_random_shape_and_hole_option_checks() -> None:
    x = _images(6, 3, 32, 32)
    masked, mask = inpainting_view(x, 0.45, generator=_seeded(3), shape="random")
    torch.testing.assert_close(mask, random_hole_mask(6, 32, 32, 0.45, generator=_seeded(3)))
    torch.testing.assert_close(masked * (1 - mask), x * (1 - mask))
    with pytest.raises(ValueError, match="hole shape"):
        inpainting_view(x, 0.35, shape="circle")
    check_hole_options(0.35, "image-mean", "square")
    for args, flag in (
        ((0.35, "zeros", "square"), "hole_fill"),
        ((0.35, "image-mean", "ring"), "hole_shape"),
        ((0.01, "image-mean", "random"), "hole_ratio"),
        ((1.0, "image-mean", "square"), "hole_ratio"),
    ):
        with pytest.raises(ValueError, match=flag):
            check_hole_options(*args)


def test_pixel_mask_ratio_and_channels() -> None:
    x = _images(8, 3, 32, 32)
    masked, mask = pixel_mask(x, 0.4, generator=_seeded(), fill=0.5)
    assert mask.shape == (8, 1, 32, 32)
    assert mask.mean().item() == pytest.approx(0.4, abs=0.02)
    dropped = mask.expand_as(x).bool()
    assert (masked[dropped] == 0.5).all()
    torch.testing.assert_close(masked[~dropped], x[~dropped])


def test_patch_mask_drops_exact_patches() -> None:
    x = _images(4, 3, 32, 32)
    masked, mask = patch_mask(x, 8, 0.75, generator=_seeded())
    assert mask.shape == (4, 1, 32, 32)
    assert (mask.mean(dim=(1, 2, 3)) == 0.75).all()  # 12 of 16 patches per image
    patches = mask[:, 0].unfold(1, 8, 8).unfold(2, 8, 8)  # [B, 4, 4, 8, 8]
    assert (patches.amin(dim=(-1, -2)) == patches.amax(dim=(-1, -2))).all()  # whole patches only
    assert ((masked == 0) | (mask == 0)).all()
    with pytest.raises(ValueError, match="patch_size"):
        patch_mask(x, 5, 0.5)


def test_mask_views_are_differentiable() -> None:
    x = _images(2, 3, 16, 16).requires_grad_(True)
    total = inpainting_view(x, fill="visible-mean", generator=_seeded())[0].sum()
    total = total + pixel_mask(x, 0.5, generator=_seeded())[0].sum() + patch_mask(x, 4, 0.5, _seeded())[0].sum()
    total.backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


# ---------------------------------------------------------------------------------------------------- detail stack


def test_detail_transforms_preserve_shape_and_are_finite() -> None:
    x = _images(2, 3, 20, 24).requires_grad_(True)
    views = detail_stack(x)
    assert set(views) == {"blur", "saturation_contrast", "edges", "high_pass", "local_contrast"}
    for view in views.values():
        assert view.shape == x.shape
        assert torch.isfinite(view).all()
    sum(view.sum() for view in views.values()).backward()
    assert torch.isfinite(x.grad).all()


def test_detail_transforms_on_simple_images() -> None:
    flat = torch.full((1, 3, 12, 12), 0.4)
    torch.testing.assert_close(box_blur(flat, 5), flat)
    torch.testing.assert_close(high_pass(flat), torch.full_like(flat, 0.5))
    assert sobel_edges(flat).max() < 1e-5
    assert local_contrast_normalize(flat).abs().max() < 1e-4
    step = torch.zeros(1, 1, 12, 12)
    step[..., 6:] = 1.0
    edges = sobel_edges(step)
    torch.testing.assert_close(edges[..., 5:7], torch.ones(1, 1, 12, 2))  # a unit step has magnitude 1
    assert edges[..., :4].max() < 1e-5
    grey = torch.full((1, 3, 4, 4), 0.5)
    torch.testing.assert_close(boost_saturation_contrast(grey), grey)  # grey stays grey
    colour = torch.tensor([0.6, 0.5, 0.4]).view(1, 3, 1, 1).expand(1, 3, 4, 4)
    boosted = boost_saturation_contrast(colour, saturation=2.0, contrast=1.0)
    assert boosted[0, 0, 0, 0] - boosted[0, 2, 0, 0] > colour[0, 0, 0, 0] - colour[0, 2, 0, 0]
    with pytest.raises(ValueError, match="kernel_size"):
        box_blur(flat, 4)


# --------------------------------------------------------------------------------------------- JEPA augmentations


def test_erosion_and_dilation_bracket_the_image() -> None:
    x = _images(2, 3, 16, 16)
    assert erode(x).shape == x.shape == dilate(x).shape
    assert (erode(x) <= x).all() and (x <= dilate(x)).all()
    assert (erode(x, 5) <= erode(x, 3)).all()


def test_invert_is_an_involution() -> None:
    x = _images(2, 3, 8, 8)
    torch.testing.assert_close(invert(invert(x)), x)
    torch.testing.assert_close(invert(x) + x, torch.ones_like(x))


def test_random_affine() -> None:
    x = _images(3, 3, 16, 20)
    identity = random_affine(x, 0.0, (1.0, 1.0), 0.0, 0.0, generator=_seeded())
    torch.testing.assert_close(identity, x, rtol=0, atol=1e-5)
    moved = random_affine(x, generator=_seeded(1))
    torch.testing.assert_close(moved, random_affine(x, generator=_seeded(1)), rtol=0, atol=0)
    assert moved.shape == x.shape and not torch.allclose(moved, x, atol=1e-2)


def test_random_affine_scale_enlarges_the_content() -> None:
    x = _images(2, 3, 16, 16)
    zoomed = random_affine(x, 0.0, (2.0, 2.0), 0.0, 0.0, generator=_seeded())
    centre = crop_resize(x, boxes=torch.tensor([[0.25, 0.25, 0.75, 0.75]]).expand(2, 4))
    torch.testing.assert_close(zoomed, centre, rtol=0, atol=1e-5)


def test_additive_noise() -> None:
    x = torch.full((4, 3, 32, 32), 0.5)
    noisy = additive_noise(x, std=0.1, generator=_seeded())
    assert noisy.min() >= 0 and noisy.max() <= 1
    assert (noisy - x).std().item() == pytest.approx(0.1, rel=0.05)
    torch.testing.assert_close(noisy, additive_noise(x, std=0.1, generator=_seeded()), rtol=0, atol=0)


# -------------------------------------------------------------------------------------------------------- registry


def test_build_view_covers_every_name_and_shares_the_transform() -> None:
    x = _images(2, 3, 16, 16)
    x_hat = x + 0.01
    kwargs = {"pixel-mask": {"ratio": 0.5}, "patch-mask": {"patch_size": 4, "ratio": 0.5}}
    for name in VIEW_NAMES:
        view = build_view(name, **kwargs.get(name, {}))
        out = view(x, _seeded(7))
        assert out.shape == x.shape, name
        torch.testing.assert_close(out, view(x, _seeded(7)), rtol=0, atol=0)
    crop = build_view("crop", side_ratio=0.25)
    # the same generator state gives the same box: the crop of x + 0.01 is the crop of x, plus 0.01
    torch.testing.assert_close(crop(x_hat, _seeded(1)), crop(x, _seeded(1)) + 0.01)
    with pytest.raises(ValueError, match="unknown view"):
        build_view("solarize")


def test_a_registered_view_is_one_decorated_function() -> None:
    def tint(x: torch.Tensor, amount: float = 0.1) -> torch.Tensor:
        return (x + amount).clamp(0, 1)

    try:
        assert register_view("tint")(tint) is tint
        x = _images(2, 3, 8, 8)
        torch.testing.assert_close(build_view("tint", amount=0.2)(x, _seeded()), tint(x, 0.2))
        assert all(torch.equal(view, tint(x)) for view in joint_view("tint", x, x))
        with pytest.raises(ValueError, match="already taken"):
            register_view("tint")(lambda x: x)
    finally:
        VIEWS.pop("tint")
    with pytest.raises(ValueError, match="unknown view 'tint'"):
        build_view("tint")
    with pytest.raises(ValueError, match="shares"):
        register_view("tint", shares="sometimes")


def test_joint_view_draws_once_for_every_batch() -> None:
    x = _images(2, 3, 16, 16)
    x_hat = _images(2, 3, 16, 16, seed=1)
    crops = joint_view("crop", x, x_hat, generator=_seeded(3), side_ratio=0.5)
    for crop, expected in zip(crops, crop_resize(x, x_hat, side_ratio=0.5, generator=_seeded(3)), strict=True):
        torch.testing.assert_close(crop, expected, rtol=0, atol=0)
    _, mask = patch_mask(x, 4, 0.5, _seeded(5))
    masked = joint_view("patch-mask", x, x_hat, generator=_seeded(5), patch_size=4, ratio=0.5)
    for image, view in zip((x, x_hat), masked, strict=True):
        torch.testing.assert_close(view, image * (1 - mask), rtol=0, atol=0)
    filled = joint_view("pixel-mask", x, x_hat, generator=_seeded(6), ratio=0.5, fill=0.25)
    first, mask = pixel_mask(x, 0.5, _seeded(6), fill=0.25)
    torch.testing.assert_close(filled[0], first, rtol=0, atol=0)  # the view itself, as the function returns it
    torch.testing.assert_close(filled[1], x_hat * (1 - mask) + 0.25 * mask, rtol=0, atol=0)  # the same pixels, filled
    with pytest.raises(ValueError, match="generator's state"):
        joint_view("noise", x, x_hat, generator=_seeded())
