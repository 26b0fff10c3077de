"""`--report_to tensorboard`: loss terms, held-out PSNR and sample grids reach the event file."""

from pathlib import Path

import pytest

from leae_hub import cli
from leae_hub.trainer import settings

ROOT = Path(__file__).resolve().parents[1]
TINY = [
    "--data", "synthetic-shapes:64", "--hidden_channels", "16", "--latent_channels", "8", "--batch_size", "8",
    "--eval_images", "16", "--log_every", "1", "--sample_every", "2", "--eval_every", "2", "--checkpoint_every", "2",
]  # fmt: skip


@pytest.mark.slow
def test_tensorboard_logs_losses_psnr_and_sample_grids(tmp_path):
    pytest.importorskip("tensorboard", reason="tensorboard is not installed: pip install -e '.[tracking]'")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    shapes = ROOT / "training" / "configs" / "shapes-quick.yaml"
    args = ["--config", str(shapes), *TINY, "--output_dir", str(tmp_path), "--max_steps", "4"]
    cli.train_main([*args, "--report_to", "tensorboard"])
    (event_file,) = (tmp_path / "leae").glob("events.out.tfevents.*")
    events = EventAccumulator(str(event_file), size_guidance={"images": 0, "scalars": 0}).Reload()
    scalars = set(events.Tags()["scalars"])
    assert {"loss", "latent", "sigreg", "lr", "img_per_s"} <= scalars  # every loss term and the rate
    assert [event.step for event in events.Scalars("loss")] == [1, 2, 3, 4]
    assert [event.step for event in events.Scalars("eval_psnr")] == [2]  # eval_every 2 (the final step: final_psnr)
    assert [event.step for event in events.Scalars("final_psnr")] == [4]
    samples = events.Images("samples")
    assert [event.step for event in samples] == [2, 4]  # sample_every 2
    assert samples[0].width == 8 * 34 + 2 and samples[0].height == 2 * 34 + 2  # input and reconstruction rows


def test_a_tracker_that_is_not_installed_is_named_before_training(tmp_path, monkeypatch):
    monkeypatch.setattr(settings, "get_available_trackers", lambda: [])
    with pytest.raises(ValueError, match="report_to 'tensorboard' is not installed.*leae-hub\\[tracking\\]"):
        cli.parse_train_config(["--report_to", "tensorboard", "--output_dir", str(tmp_path)])
