#!/usr/bin/env bash
# The MNIST JEPA in the seed's setup (training/configs/mnist-jepa-seed.yaml, docs/lab.md section 3) with each of its
# five differences from the lab's first rebuild switched back on its own, and the seed setup at a second training seed:
#
#   bash training/mnist_jepa_ablations.sh [NAME...]     # default: all six, in the order below
#
# NAME: latent-norm (no latent LayerNorms), predictor (128 -> 512 -> 128, LayerNorm, GELU), ramp (every magnitude
# ramps from 0.2), erosion (3x3 minimum instead of skeletons), affine (the lab's affine map), seed1 (nothing switched
# back, training seed 1). Each trains 25 epochs (46,875 steps; about 1.5 h on one core) into runs/mnist-jepa-seed-NAME,
# resuming from its latest checkpoint when stopped, then writes its k-NN@5 JSON and table to
# docs/lab/mnist_jepa_ablations/NAME (training/mnist_jepa.py evaluate). A run whose JSON is there is skipped.
#
#   PYTHON   the interpreter (default: .venv/bin/python); one thread per run (OMP_NUM_THREADS=1)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
declare -A SWITCH=(
    [latent-norm]="--latent_norm none --latent_norm_layers 1"
    [predictor]="--predictor_hidden 512 --predictor_norm layernorm --predictor_activation gelu"
    [ramp]="--digit_ramp all --augment_strength_start 0.2"
    [erosion]="--digit_erosion min-pool"
    [affine]="--digit_affine lab"
    [seed1]="--seed 1"
)
names=("$@")
((${#names[@]})) || names=(latent-norm predictor ramp erosion affine seed1)
for name in "${names[@]}"; do
    [[ -v SWITCH[$name] ]] || { echo "unknown ablation $name; choose from ${!SWITCH[*]}" >&2; exit 2; }
    out=docs/lab/mnist_jepa_ablations/$name run=runs/mnist-jepa-seed-$name
    if [[ -f $out/mnist_jepa.json ]]; then
        echo "kept $out/mnist_jepa.json"
        continue
    fi
    resume=()
    [[ -d $run/checkpoints ]] && resume=(--resume_from_checkpoint latest)
    # shellcheck disable=SC2086  # the switches are several flags
    "$PYTHON" -m leae_hub.cli train --config training/configs/mnist-jepa-seed.yaml ${SWITCH[$name]} \
        --output_dir "$run" "${resume[@]}"
    "$PYTHON" training/mnist_jepa.py evaluate --model "$run/model" --out "$out"
done
