"""A transformers pipeline that reconstructs images with a leae autoencoder.

Self-contained (torch, PIL, transformers only) because `python -m leae_hub.hub publish` uploads it next to the
weights as remote code, and writes `custom_pipelines` into the repo's `config.json`; so, with or without `leae_hub`:

```python
>>> from transformers import pipeline
>>> revision = "..."  # without leae_hub: the commit id of the remote code you reviewed  # doctest: +SKIP
>>> reconstruct = pipeline(  # doctest: +SKIP
...     model="leae-hub/leae-cifar10-32-self-teaching", trust_remote_code=True, revision=revision
... )
>>> result = reconstruct("image.png")  # doctest: +SKIP
>>> result["image"], result["psnr"]  # a PIL image at the model's size, its PSNR in dB  # doctest: +SKIP
```

Importing `leae_hub` also registers the task (`PIPELINE_TASK`) with transformers' `PIPELINE_REGISTRY`, so
`pipeline(PIPELINE_TASK, model=model, image_processor=processor)` works with objects already in memory.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from transformers import Pipeline
from transformers.image_utils import load_image

PIPELINE_TASK = "leae-reconstruction"


class LeaeReconstructionPipeline(Pipeline):
    """Reconstruct images: the image processor resizes and centre-crops each input to the model's size, the model
    encodes and decodes it, and the reconstruction comes back as a PIL image.

    Call it with one image (a PIL image, a numpy array, or a local path or URL) or a list of them. Each image gives a
    dict:

    - `"image"`: the reconstruction, a PIL image (RGB or L) of the model's `image_size`;
    - `"psnr"`: the PSNR in dB of the reconstruction against the processed input (float values in [0, 1], before the
      8-bit rounding of the PIL image; `inf` for an exact reconstruction).

    A list of images gives a list of such dicts.
    """

    _load_processor = False
    _load_image_processor = True
    _load_feature_extractor = False
    _load_tokenizer = False

    def _sanitize_parameters(self, timeout: float | None = None, **kwargs: Any) -> tuple[dict, dict, dict]:
        if kwargs:
            raise TypeError(f"unexpected arguments {sorted(kwargs)}; the only option is timeout (for image URLs).")
        return ({"timeout": timeout} if timeout is not None else {}), {}, {}

    def preprocess(self, image: Any, timeout: float | None = None) -> dict[str, torch.Tensor]:
        if isinstance(image, str):
            image = load_image(image, timeout=timeout)
        pixel_values = self.image_processor(image, return_tensors="pt")["pixel_values"]
        return {"pixel_values": pixel_values.to(self.dtype)}

    def _forward(self, model_inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        pixel_values = model_inputs["pixel_values"]
        return {"pixel_values": pixel_values, "reconstruction": self.model(pixel_values).reconstruction}

    def postprocess(self, model_outputs: dict[str, torch.Tensor]) -> dict[str, Any]:
        reconstruction = model_outputs["reconstruction"].float()
        mse = torch.mean((reconstruction - model_outputs["pixel_values"].float()) ** 2).item()
        psnr = math.inf if mse == 0 else -10.0 * math.log10(mse)
        return {"image": self.image_processor.postprocess(reconstruction)[0], "psnr": psnr}


__all__ = ["PIPELINE_TASK", "LeaeReconstructionPipeline"]
