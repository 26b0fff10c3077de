import os
import sys
from pathlib import Path

import pytest
import torch
from huggingface_hub import ModelCard

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
# The shortcut data sets beside the checkout, wherever a test runs from (the library's default is relative to the
# working directory).
os.environ.setdefault("LEAE_DATA_DIR", str(Path(__file__).resolve().parents[2] / "shared" / "data"))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(scope="module")
def one_thread():
    """One intra-op thread, for modules of many small tensor operations: thread synchronisation slows those down by
    orders of magnitude on a busy 2-core machine. Use with `pytestmark = pytest.mark.usefixtures("one_thread")`."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def tiny_config(**overrides):
    """A small spatial-latent config (32 px) that builds and runs in milliseconds."""
    from leae_hub import LeaeConfig

    return LeaeConfig.from_preset("leae-cifar", **{"hidden_channels": 16, "latent_channels": 8, **overrides})


# The first lines of a script run in a subprocess as a user without the library would: `import leae_hub` fails there,
# so everything the script loads must come from a repo's remote code.
WITHOUT_LEAE_HUB = """
import sys

sys.modules["leae_hub"] = None  # the package is not installed here
try:
    import leae_hub  # noqa: F401
except ImportError:
    pass
else:
    raise SystemExit("leae_hub should not be importable")
"""


def model_index_values(card: ModelCard) -> dict[str, object]:
    """{metric type: value} of a model card's `model-index`."""
    return {result.metric_type: result.metric_value for result in card.data.eval_results or []}


@pytest.fixture(autouse=True)
def fresh_accelerate_state():
    """Accelerate keeps process-wide state (mixed precision is fixed once per process): reset it after each test that
    trained in-process, so runs with different settings can follow each other as separate processes would."""
    yield
    if "accelerate.state" in sys.modules:
        from accelerate.state import AcceleratorState, GradientState

        AcceleratorState._reset_state(reset_partial_state=True)
        GradientState._reset_state()
