"""leae-hub: self-teaching autoencoders for the Hugging Face ecosystem.

`import leae_hub` is light: it imports neither torch nor transformers. The names below load on first use (PEP 562),
and as soon as transformers is imported (before, with or after this package), `LeaeConfig`, `LeaeModel` and
`LeaeImageProcessor` are registered with transformers' `AutoConfig`, `AutoModel` and `AutoImageProcessor` and marked
for remote code (`save_pretrained` writes `auto_map` and copies `configuration_leae.py`, `modeling_leae.py` and
`image_processing_leae.py` next to the weights), and the `leae-reconstruction` pipeline task
(`pipeline_leae.LeaeReconstructionPipeline`) joins transformers' `PIPELINE_REGISTRY`: see `leae_hub.registration`.
So `import leae_hub` then `AutoModel.from_pretrained("leae-hub/leae-faces-128")` works as with an eager import.

`leae_hub.pipelines` is the old name of `leae_hub.inference` (the ready-made uses of a model): importing it, in any
form, gives that module, loaded only then (`_OldName`).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
from types import ModuleType
from typing import TYPE_CHECKING, Any

from . import registration

__version__ = "0.1.0"

_EXPORTS = {
    "PIPELINE_TASK": "pipeline_leae",
    "PRESETS": "configuration_leae",
    "LeaeConfig": "configuration_leae",
    "LeaeDecoderOutput": "modeling_leae",
    "LeaeEncoderOutput": "modeling_leae",
    "LeaeImageProcessor": "image_processing_leae",
    "LeaeModel": "modeling_leae",
    "LeaeModelOutput": "modeling_leae",
    "LeaePreTrainedModel": "modeling_leae",
    "LeaeReconstructionPipeline": "pipeline_leae",
    "pipeline": "registration",
}

if TYPE_CHECKING:  # for type checkers and IDEs; at run time `__getattr__` imports these on first use
    from .configuration_leae import PRESETS as PRESETS
    from .configuration_leae import LeaeConfig as LeaeConfig
    from .image_processing_leae import LeaeImageProcessor as LeaeImageProcessor
    from .modeling_leae import LeaeDecoderOutput as LeaeDecoderOutput
    from .modeling_leae import LeaeEncoderOutput as LeaeEncoderOutput
    from .modeling_leae import LeaeModel as LeaeModel
    from .modeling_leae import LeaeModelOutput as LeaeModelOutput
    from .modeling_leae import LeaePreTrainedModel as LeaePreTrainedModel
    from .pipeline_leae import PIPELINE_TASK as PIPELINE_TASK
    from .pipeline_leae import LeaeReconstructionPipeline as LeaeReconstructionPipeline
    from .registration import pipeline as pipeline


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'leae_hub' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


# Modules renamed since a release, by their old names: `import leae_hub.<old>` imports `leae_hub.<new>` instead.
_OLD_NAMES = {f"{__name__}.pipelines": f"{__name__}.inference"}


class _OldName(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """A `sys.meta_path` finder for the `_OLD_NAMES`: an old name's module is the renamed module itself (the same
    object, imported on first use), so `import leae_hub.pipelines`, `from leae_hub.pipelines import reconstruct` and
    `from leae_hub import pipelines` keep working without a file of that name."""

    def find_spec(self, fullname: str, path: Any = None, target: ModuleType | None = None) -> Any:
        return importlib.util.spec_from_loader(fullname, self) if fullname in _OLD_NAMES else None

    def exec_module(self, module: ModuleType) -> None:
        """Put the renamed module in the old name's place: the import system hands out what `sys.modules` holds."""
        sys.modules[module.__name__] = importlib.import_module(_OLD_NAMES[module.__name__])


sys.meta_path.insert(0, _OldName())

registration.install()

__all__ = sorted(_EXPORTS)
