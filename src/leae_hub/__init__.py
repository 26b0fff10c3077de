"""leae-hub: self-teaching autoencoders for the Hugging Face ecosystem.

Importing the package registers `LeaeConfig`, `LeaeModel` and `LeaeImageProcessor` with transformers' `AutoConfig`,
`AutoModel` and `AutoImageProcessor`, and marks them for remote code: `save_pretrained` writes `auto_map` and copies
`configuration_leae.py`, `modeling_leae.py` and `image_processing_leae.py` next to the weights. It also registers the
`leae-reconstruction` pipeline task (`pipeline_leae.LeaeReconstructionPipeline`) with transformers' `PIPELINE_REGISTRY`.
"""

from transformers import AutoConfig, AutoImageProcessor, AutoModel
from transformers.pipelines import PIPELINE_REGISTRY

from .configuration_leae import PRESETS, LeaeConfig
from .image_processing_leae import LeaeImageProcessor
from .modeling_leae import LeaeDecoderOutput, LeaeEncoderOutput, LeaeModel, LeaeModelOutput, LeaePreTrainedModel
from .pipeline_leae import PIPELINE_TASK, LeaeReconstructionPipeline

__version__ = "0.1.0"

AutoConfig.register(LeaeConfig.model_type, LeaeConfig, exist_ok=True)
AutoModel.register(LeaeConfig, LeaeModel, exist_ok=True)
# One class serves both backends (it does its own work in torch), which keeps transformers from warning about a
# missing torchvision variant.
AutoImageProcessor.register(
    LeaeConfig, image_processor_classes={"pil": LeaeImageProcessor, "torchvision": LeaeImageProcessor}, exist_ok=True
)
LeaeConfig.register_for_auto_class()
LeaeModel.register_for_auto_class("AutoModel")
LeaeImageProcessor.register_for_auto_class("AutoImageProcessor")
PIPELINE_REGISTRY.register_pipeline(
    PIPELINE_TASK, pipeline_class=LeaeReconstructionPipeline, pt_model=AutoModel, type="image"
)

__all__ = [
    "PIPELINE_TASK",
    "PRESETS",
    "LeaeConfig",
    "LeaeDecoderOutput",
    "LeaeEncoderOutput",
    "LeaeImageProcessor",
    "LeaeModel",
    "LeaeModelOutput",
    "LeaePreTrainedModel",
    "LeaeReconstructionPipeline",
]
