"""Train a leae model with any recipe, on one CPU, one GPU or many (the code lives in `leae_hub.trainer`,
the command line in `leae_hub.cli`).

    accelerate launch -q training/train.py                                 # the embedded default: shapes-quick.yaml
    accelerate launch -q training/train.py --config training/configs/cifar10-32-masked.yaml --max_steps 2000
    accelerate launch -q --multi_gpu --num_processes 2 training/train.py ...  # 2 processes (--cpu on CPU machines)
    accelerate launch -q training/train.py --config ... --resume_from_checkpoint latest

The same as `leae train ...`; `--help` lists every setting. An error prints one line (`LEAE_TRACEBACK=1`: the
traceback) and exits with status 1; `-q` (`--quiet`) keeps `accelerate launch` from printing its own traceback after
that line.
"""

import os

# Idle OpenMP threads sleep instead of spinning: on a CPU shared with other processes spinning threads wait for time
# slices at every parallel region (up to 4.5x slower steps, docs/performance.md); no cost on a quiet machine. It must
# be set before torch loads; an explicit OMP_WAIT_POLICY wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import sys  # noqa: E402

from leae_hub.cli import log_to_stderr, run_command, train_main  # noqa: E402

if __name__ == "__main__":
    log_to_stderr()
    sys.exit(run_command("training/train.py", lambda: train_main(prog="training/train.py")))
