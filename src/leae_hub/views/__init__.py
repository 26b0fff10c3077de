"""Views T of an image batch: crop-resize, masks, detail transforms and JEPA augmentations.

Pure tensor functions on images [B, C, H, W] with values in [0, 1]. Every function is differentiable with respect to
the image (sampling grids, convolutions and pooling; no in-place writes), so a view of a reconstruction x̂ passes
gradients back to x̂. Random parameters depend only on the batch size and image size, never on pixel values, and are
drawn on the generator's device (on CPU without a generator) before being moved to the images: a CPU generator works
for CUDA images, and two calls with generators in the same state apply the same transform (that is how x and x̂ get
the same view when they cannot be passed together).

A view is one function registered by name (`registry`: `@register_view`, `VIEWS`, `build_view`, `joint_view`); the
functions live by kind: `geometry` (crop-resize, affine maps), `masks` (holes, pixel and patch masks), `detail` (the
detail stack) and `augmentations` (the JEPA augmentations). Every name is importable from `leae_hub.views`.
"""

from __future__ import annotations

from .augmentations import (
    DIGIT_AFFINES,
    DIGIT_EROSIONS,
    DIGIT_RAMPS,
    additive_noise,
    dilate,
    erode,
    invert,
    perturb_digits,
    salt_and_pepper,
    skeleton,
)
from .detail import (
    boost_saturation_contrast,
    box_blur,
    detail_stack,
    high_pass,
    local_contrast_normalize,
    sobel_edges,
)
from .geometry import crop_resize, random_affine, random_crop_boxes, seed_affine
from .masks import (
    HOLE_FILLS,
    HOLE_SHAPES,
    RANDOM_HOLE_ASPECT,
    RANDOM_HOLE_MIN_AREA,
    SEGMENTS_MAX,
    STROKE_RADIUS,
    STROKE_SEGMENT,
    STROKES_MAX,
    HoleFill,
    HoleShape,
    apply_hole,
    centred_hole_mask,
    check_hole_options,
    hole_mask_function,
    inpainting_view,
    patch_mask,
    pixel_mask,
    random_hole_mask,
    square_hole_mask,
)
from .registry import VIEWS, RegisteredView, Shares, View, build_view, joint_view, register_view, registered_view

# The views of this package (a view registered later is in `VIEWS`, not here).
VIEW_NAMES: tuple[str, ...] = tuple(sorted(VIEWS))

__all__ = [
    "DIGIT_AFFINES",
    "DIGIT_EROSIONS",
    "DIGIT_RAMPS",
    "HOLE_FILLS",
    "HOLE_SHAPES",
    "RANDOM_HOLE_ASPECT",
    "RANDOM_HOLE_MIN_AREA",
    "SEGMENTS_MAX",
    "STROKES_MAX",
    "STROKE_RADIUS",
    "STROKE_SEGMENT",
    "VIEWS",
    "VIEW_NAMES",
    "HoleFill",
    "HoleShape",
    "RegisteredView",
    "Shares",
    "View",
    "additive_noise",
    "apply_hole",
    "boost_saturation_contrast",
    "box_blur",
    "build_view",
    "centred_hole_mask",
    "check_hole_options",
    "crop_resize",
    "detail_stack",
    "dilate",
    "erode",
    "high_pass",
    "hole_mask_function",
    "inpainting_view",
    "invert",
    "joint_view",
    "local_contrast_normalize",
    "patch_mask",
    "perturb_digits",
    "pixel_mask",
    "random_affine",
    "random_crop_boxes",
    "random_hole_mask",
    "register_view",
    "registered_view",
    "salt_and_pepper",
    "seed_affine",
    "skeleton",
    "sobel_edges",
    "square_hole_mask",
]
