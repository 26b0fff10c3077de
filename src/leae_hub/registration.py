"""Registration with transformers' `Auto*` classes and pipeline registry, done when transformers is imported.

`import leae_hub` stays light (no torch, no transformers: the command line starts in a fraction of a second), yet
`import leae_hub` followed by `AutoModel.from_pretrained(...)` must find the leae classes. So importing the package
installs `RegisterAfterImport` on `sys.meta_path`; it runs `register` as soon as transformers and every leae module
being imported at that moment have finished importing (or at once, when transformers is already imported). `register`:

- `AutoConfig`, `AutoModel` and `AutoImageProcessor` learn `LeaeConfig`, `LeaeModel` and `LeaeImageProcessor`, which
  are also marked for remote code: `save_pretrained` writes `auto_map` and copies `configuration_leae.py`,
  `modeling_leae.py` and `image_processing_leae.py` next to the weights;
- transformers' `PIPELINE_REGISTRY` learns the `leae-reconstruction` task (`pipeline_leae.LeaeReconstructionPipeline`).

The hook watches only the module `transformers` and leae_hub's own model modules, and leaves `sys.meta_path` once the
registration is done.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import threading
from types import ModuleType
from typing import Any

# The leae modules that import transformers at their top: while one of them is half imported, registering (which
# imports all of them) would meet it half-built, so the registration waits until it is complete.
MODEL_MODULES = (
    "leae_hub.configuration_leae",
    "leae_hub.modeling_leae",
    "leae_hub.image_processing_leae",
    "leae_hub.pipeline_leae",
)
WATCHED = frozenset({"transformers", *MODEL_MODULES})

_lock = threading.RLock()
_loading: set[str] = set()  # watched modules whose code is running now
_registered = False


def register() -> None:
    """Register the leae classes with transformers (idempotent); see the module docstring."""
    global _registered
    with _lock:
        if _registered:
            return
        _registered = True  # set first: the imports below come back here through the hook
        try:
            _register()
        except BaseException:
            _registered = False
            raise
        _uninstall()


def _register() -> None:
    from transformers import AutoConfig, AutoImageProcessor, AutoModel
    from transformers.pipelines import PIPELINE_REGISTRY

    from .configuration_leae import LeaeConfig
    from .image_processing_leae import LeaeImageProcessor
    from .modeling_leae import LeaeModel
    from .pipeline_leae import PIPELINE_TASK, LeaeReconstructionPipeline

    AutoConfig.register(LeaeConfig.model_type, LeaeConfig, exist_ok=True)
    AutoModel.register(LeaeConfig, LeaeModel, exist_ok=True)
    # One class serves both backends (it does its own work in torch), which keeps transformers from warning about a
    # missing torchvision variant.
    processors = {"pil": LeaeImageProcessor, "torchvision": LeaeImageProcessor}
    AutoImageProcessor.register(LeaeConfig, image_processor_classes=processors, exist_ok=True)
    LeaeConfig.register_for_auto_class()
    LeaeModel.register_for_auto_class("AutoModel")
    LeaeImageProcessor.register_for_auto_class("AutoImageProcessor")
    PIPELINE_REGISTRY.register_pipeline(
        PIPELINE_TASK, pipeline_class=LeaeReconstructionPipeline, pt_model=AutoModel, type="image"
    )


def pipeline(model: Any, **kwargs: Any) -> Any:
    """The `leae-reconstruction` pipeline of `model` (a Hub repo id, a local folder or a `LeaeModel`), with leae_hub's
    own code: `transformers.pipeline` with the task and `LeaeReconstructionPipeline` given and
    `trust_remote_code=False`, so no remote code runs (a published repo names its own pipeline file, which this
    skips), nothing prompts, and nothing asks the Hub for the task (it works offline). Other keywords (`revision`,
    `device`, `dtype`, ...) go to `transformers.pipeline`.

    ```python
    >>> import leae_hub
    >>> reconstruct = leae_hub.pipeline("leae-hub/leae-faces-128")  # doctest: +SKIP
    >>> reconstruct("face.jpg")["psnr"]  # doctest: +SKIP
    ```
    """
    from transformers import pipeline as transformers_pipeline

    from .pipeline_leae import PIPELINE_TASK, LeaeReconstructionPipeline

    register()
    kwargs.setdefault("trust_remote_code", False)
    return transformers_pipeline(PIPELINE_TASK, model=model, pipeline_class=LeaeReconstructionPipeline, **kwargs)


def register_when_ready() -> None:
    """`register` now if transformers is imported and no watched module is half imported; else leave it to the hook."""
    with _lock:
        if _registered or _loading or "transformers" not in sys.modules:
            return
    register()


class RegisterAfterImport(importlib.abc.MetaPathFinder):
    """A `sys.meta_path` finder that finds nothing itself: for the `WATCHED` modules it asks the finders after it
    and wraps the loader they return, so that `register_when_ready` runs after each of them is executed."""

    def find_spec(self, fullname: str, path: Any = None, target: ModuleType | None = None) -> Any:
        if fullname not in WATCHED:
            return None
        finders = sys.meta_path[sys.meta_path.index(self) + 1 :] if self in sys.meta_path else []
        for finder in finders:
            find = getattr(finder, "find_spec", None)
            spec = find(fullname, path, target) if find else None
            if spec is not None:
                if spec.loader is not None and not isinstance(spec.loader, _ThenRegister):
                    spec.loader = _ThenRegister(spec.loader)
                return spec
        return None


class _ThenRegister(importlib.abc.Loader):
    """A loader that runs another loader, then `register_when_ready`; anything else is the other loader's."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        name = module.__spec__.name if module.__spec__ else module.__name__
        with _lock:
            _loading.add(name)
        try:
            self._loader.exec_module(module)
        finally:
            with _lock:
                _loading.discard(name)
        register_when_ready()

    def __getattr__(self, name: str) -> Any:  # get_source, is_package, get_resource_reader, ...
        if name == "_loader":  # not set yet (a copy in the making): no recursion
            raise AttributeError(name)
        return getattr(self._loader, name)


_finder = RegisterAfterImport()


def install() -> None:
    """Put the hook first on `sys.meta_path` (once) and register at once if transformers is already imported."""
    with _lock:
        if not _registered and _finder not in sys.meta_path:
            sys.meta_path.insert(0, _finder)
    register_when_ready()


def _uninstall() -> None:
    if _finder in sys.meta_path:
        sys.meta_path.remove(_finder)
