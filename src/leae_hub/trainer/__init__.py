"""The trainer: train a leae model with any recipe, on one CPU, one GPU or many; the code behind `leae train` and
`training/train.py`.

    leae train                                                            # the default: shapes-quick.yaml
    leae train --config training/configs/cifar10-32-masked.yaml --max_steps 2000
    accelerate launch training/train.py --config ...                      # the same, through Accelerate
    accelerate launch --multi_gpu --num_processes 2 training/train.py ...  # 2 processes (add --cpu on CPU machines)
    leae train --config ... --resume_from_checkpoint latest

Every field of `ModelArguments`, `DataArguments` and `TrainArguments`, `recipe`, and every option of every registered
recipe (its constructor's keyword arguments, see `leae_hub.recipes`) can be set in the YAML `--config` file and
overridden on the command line (`--field value`). A recipe may train in several stages (`Recipe.stages`): the last one
writes to `output_dir`, the others to subfolders of it.

Outputs in `output_dir`: `train_config.yaml` (the run's settings, recipe defaults filled in), `metrics.jsonl`,
`samples/step-*.png`, `checkpoints/checkpoint-<step>/` (written atomically, the last `keep_checkpoints` kept), with
`--report_to tensorboard` the TensorBoard events in `leae/`, and at the end `model/` (`save_pretrained` of the model
and its image processor, float32), a model card draft `model/README.md` and `final_metrics.json`.

Safety. Every setting is checked before any data is read, and the data (one full batch at least) before anything in
`output_dir` changes. A fresh start in a folder that holds a run (a checkpoint or a model) refuses other settings
unless `--overwrite` is given; the old run is then moved aside whole (with equal settings too), to
`<output_dir>.old-<UTC time>`, once the new run is under way. A checkpoint holds no pickle of ours: the recipe's state
is safetensors and `trainer_state.json` lists every file's size and SHA-256; resuming reads Accelerate's files with
`weights_only=True` (never its `custom_checkpoint_<i>.pkl`), and
`--resume_from_checkpoint latest` takes the newest checkpoint that is complete, loads and holds finite weights, warning
about each one it passes over. A resumed run cuts `metrics.jsonl` back to its step; a moved run folder resumes.

Modules, in the order a run uses them: `settings` (the arguments, the YAML file, validation, the architecture),
`run_folder` (the output folder's safety and lock), `checkpoints` (atomic writes, integrity, resume), `loop` (setup, the
steps, finishing) and `card_draft` (the card a run writes). The command line parses the flags: `leae_hub.cli`'s
`parse_train_config` and `train_main` (also `leae_hub.training.parse_config` and `main`, their old names).
"""

from .loop import train
from .settings import DataArguments, ModelArguments, RunConfig, TrainArguments

__all__ = ["DataArguments", "ModelArguments", "RunConfig", "TrainArguments", "train"]
