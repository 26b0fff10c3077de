"""Evaluate a saved leae model on a data source and write the metrics as JSON (they feed the model card).

    python training/evaluate.py --model runs/shapes-quick/model --data synthetic-shapes --split test --json eval.json
    python training/evaluate.py --model org/leae-celeba-128 --data flwrlabs/celeba --split test --json eval.json \\
        --no_representation --max_images 2000 --sample_grid samples.png

The same as `leae evaluate ...` (`leae_hub.cli.evaluate_main`). `--model` is a folder written by `save_pretrained` or
a Hub repo id. The metrics and the JSON layout are those of `leae_hub.evaluation.evaluate_model`: reconstruction
(PSNR, SSIM, MS-SSIM, per-image-mean baseline, LPIPS and FID when their weights are on disk), inpainting (PSNR inside a
seeded square hole and over the image), representation (k-NN and linear probe on frozen latents, with raw-pixel and
random-init-encoder baselines; needs labels and a train split), collapse (RankMe, per-dimension std, SIGReg) and model
facts. Infinite values are written as the string "inf".
"""

import sys

from leae_hub.cli import evaluate_main, log_to_stderr, run_command

if __name__ == "__main__":
    log_to_stderr()
    sys.exit(run_command("training/evaluate.py", lambda: evaluate_main(prog="training/evaluate.py")))
