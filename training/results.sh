#!/usr/bin/env bash
# The runs behind docs/results.md: `bash training/results.sh NAME...` trains each named run into runs/results/NAME
# (resuming when interrupted) and evaluates it on the test split into runs/results/NAME/eval.json.
# `bash training/results.sh --list` prints the names. Every run: seed 0, batch 128, one process, cosine schedule.
#
#   STEPS       optimiser steps of the CIFAR-10 ablations (default 600)
#   JEPA_STEPS  JEPA steps of the MNIST JEPA comparison (default 1000), then PROBE_STEPS decoder-probe steps (500)
#   PRECISION   mixed precision of every run: no (default) or bf16
#   PYTHON      the interpreter (default: .venv/bin/python when present, else python)
set -euo pipefail
cd "$(dirname "$0")/.."

STEPS=${STEPS:-600}
JEPA_STEPS=${JEPA_STEPS:-1000}
PROBE_STEPS=${PROBE_STEPS:-500}
PRECISION=${PRECISION:-no}
if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python; fi
fi
CIFAR=(--max_steps "$STEPS" --warmup_steps 50 --eval_every "$STEPS" --eval_images 1000 --sample_every "$STEPS"
    --checkpoint_every 100 --mixed_precision "$PRECISION")
MNIST=(--config training/configs/mnist-jepa-sigreg.yaml --max_steps "$JEPA_STEPS" --decoder_probe_steps "$PROBE_STEPS"
    --warmup_steps 50 --eval_every "$JEPA_STEPS" --sample_every "$JEPA_STEPS" --checkpoint_every 100
    --mixed_precision "$PRECISION")
SELF=(--config training/configs/cifar10-32-self-teaching.yaml "${CIFAR[@]}")

declare -A RUNS=(
    # a. self-teaching (no pixel loss) vs an MSE autoencoder of the same architecture; b/c/f reuse st-crop.
    [st-crop]="${SELF[*]}"
    [mse-autoencoder]="--config training/configs/cifar10-32-baseline.yaml --hole_ratio 0 ${CIFAR[*]}"
    # b. the transformation the judge sees
    [st-pixel-mask]="${SELF[*]} --views pixel-mask"
    [st-plain]="${SELF[*]} --views plain"
    # c. the judge
    [st-live]="${SELF[*]} --judge live"
    [st-ema]="${SELF[*]} --judge ema"
    # f. the judge's batch norm: running statistics instead of each judged batch's own
    [st-running-norm]="${SELF[*]} --judge_norm running"
    # d. leAutoencoder vs the masked-MSE baseline: the zoo entries cifar10-32-masked and cifar10-32-baseline
    # e. JEPA on MNIST: EMA teacher + SIGReg vs teacherless + coding rate vs teacherless + SIGReg
    [jepa-ema-sigreg]="${MNIST[*]}"
    [jepa-coding-rate]="${MNIST[*]} --target stop-grad --regularizer coding-rate --coding_rate_center false --coding_rate_eps 0"
    [jepa-sigreg]="${MNIST[*]} --target stop-grad"
)

if [[ "${1:-}" == "--list" || $# -eq 0 ]]; then
    printf '%s\n' "${!RUNS[@]}" | sort
    exit 0
fi

for name in "$@"; do
    args=${RUNS[$name]:?unknown run $name; see --list}
    out=runs/results/$name
    data=cifar10
    [[ $name == jepa-* ]] && data=mnist
    # shellcheck disable=SC2086  # the argument lists above are plain words
    "$PYTHON" training/train.py $args --output_dir "$out" --resume_from_checkpoint latest
    "$PYTHON" training/evaluate.py --model "$out/model" --data "$data" --split test --json "$out/eval.json" \
        --sample_grid "$out/samples.png"
done
