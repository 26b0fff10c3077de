"""`import leae_hub` is light (no torch, no transformers, none of the optional libraries), and the leae classes are
registered with transformers whichever is imported first: the package, transformers, or a leae module directly."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

import leae_hub

HEAVY = ("torch", "transformers", "accelerate", "timm", "gradio", "datasets", "torchvision")

REGISTERED = textwrap.dedent(
    """
    import json, sys
    from transformers import AutoConfig, AutoModel
    from transformers.models.auto.image_processing_auto import IMAGE_PROCESSOR_MAPPING
    from transformers.pipelines import PIPELINE_REGISTRY
    from leae_hub import registration

    config = AutoConfig.for_model("leae_autoencoder", image_size=32, hidden_channels=8, latent_channels=4)
    print(json.dumps({
        "config": type(config).__module__,
        "model": type(AutoModel.from_config(config)).__module__,
        "processor": IMAGE_PROCESSOR_MAPPING[type(config)]["pil"].__module__,
        "task": "leae-reconstruction" in PIPELINE_REGISTRY.get_supported_tasks(),
        "hook_left": registration._finder not in sys.meta_path,
    }))
    """
)


def _run(code: str) -> dict:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_import_leae_hub_imports_no_heavy_library():
    code = f"import json, sys, leae_hub; print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    assert _run(code) == []


def test_command_line_help_and_version_import_no_heavy_library():
    code = textwrap.dedent(
        f"""
        import contextlib, io, json, sys
        from leae_hub.cli import main
        out = io.StringIO()
        for argv in (["--help"], ["--version"]):
            with contextlib.redirect_stdout(out):
                try:
                    main(argv)
                except SystemExit:
                    pass
        print(json.dumps({{"heavy": [m for m in {HEAVY!r} if m in sys.modules], "out": out.getvalue()}}))
        """
    )
    result = _run(code)
    assert result["heavy"] == []
    assert "leae train" in result["out"] or "COMMAND" in result["out"]
    assert f"leae {leae_hub.__version__}" in result["out"]


@pytest.mark.parametrize(
    "first",
    ["import leae_hub", "import transformers; import leae_hub", "from leae_hub.modeling_leae import LeaeModel"],
    ids=["package first", "transformers first", "a model module first"],
)
@pytest.mark.slow
def test_classes_are_registered_whichever_is_imported_first(first):
    result = _run(first + "\n" + REGISTERED)
    assert result["config"] == "leae_hub.configuration_leae" and result["model"] == "leae_hub.modeling_leae"
    assert result["processor"] == "leae_hub.image_processing_leae"
    assert result["task"] and result["hook_left"]


def test_lazy_names_resolve_and_unknown_ones_raise():
    assert leae_hub.LeaeModel.__module__ == "leae_hub.modeling_leae"
    assert set(leae_hub.__all__) <= set(dir(leae_hub))
    with pytest.raises(AttributeError, match="no attribute 'LeaeModle'"):
        leae_hub.LeaeModle  # noqa: B018


@pytest.mark.slow
def test_the_old_module_name_pipelines_imports_the_inference_module():
    """`leae_hub.pipelines` was renamed `leae_hub.inference`: every form of importing the old name gives the renamed
    module (one object, with its own name), and only when asked for, so `import leae_hub` stays light."""
    code = textwrap.dedent(
        f"""
        import json, sys
        import leae_hub
        heavy = [m for m in {HEAVY!r} if m in sys.modules]
        import leae_hub.pipelines
        from leae_hub import pipelines
        from leae_hub.pipelines import reconstruct
        import leae_hub.inference as inference
        print(json.dumps({{
            "heavy": heavy,
            "same": leae_hub.pipelines is pipelines is inference is sys.modules["leae_hub.pipelines"],
            "names": [inference.__name__, inference.__spec__.name, reconstruct.__module__],
        }}))
        """
    )
    result = _run(code)
    assert result["heavy"] == [] and result["same"]
    assert result["names"] == ["leae_hub.inference"] * 3
