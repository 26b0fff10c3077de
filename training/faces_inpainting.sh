#!/usr/bin/env bash
# Evaluate and stage the face inpainting pairs (leAutoencoder and its masked-MSE baseline, UTKFace 128 px) once their
# runs have finished: `bash training/faces_inpainting.sh SUFFIX...` with SUFFIX "" (the 6x pair, leae-2m) and/or
# "-l512" (leae-36m). For each model of a pair: evaluate.py on the UTKFace test split (all 1,000 faces, the hole
# kinds of table h, gender probes on 1,000 training faces) into runs/faces128-<recipe><suffix>/eval.json and on the
# CelebA half-resolution test split (a seeded 250 of its 500 faces, another data set it never saw) into
# docs/results/faces128-inpainting/ (batches of 32: on this CPU a batch of 256 took about 2.4 s an image under load,
# batches of 32 about 1.4 s);
# then stage it (training/stage_zoo.sh) with its sample grid and the pair's inpainting figure (input, centred hole,
# leAutoencoder, baseline) on the Space's example faces, and print table h (training/results_tables.py --holes).
#
#   PYTHON  the interpreter (default: .venv/bin/python)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
out=docs/results/faces128-inpainting
mkdir -p "$out"
for suffix in "$@"; do
    runs=()
    for recipe in masked baseline; do
        run=runs/faces128-$recipe$suffix
        runs+=("$run")
        "$PYTHON" training/evaluate.py --model "$run/model" --data utkface --split test --json "$run/eval.json" \
            --max_train_images 1000 --batch_size 32
        "$PYTHON" training/evaluate.py --model "$run/model" --data celeba-half --split test --no_representation \
            --max_images 250 --batch_size 32 --json "$out/celeba-half-$recipe$suffix.json"
        cp "$run/eval.json" "$out/utkface-$recipe$suffix.json"
    done
    # The pair's figure (input, hole, leAutoencoder, baseline), in both cards; each card's own sample grid.
    "$PYTHON" training/sample_grid.py --model "runs/faces128-masked$suffix/model" \
        --compare "runs/faces128-baseline$suffix/model" --images spaces/leae-demo/examples --hole centre-25 \
        --output "$out/figure$suffix.png"
    for recipe in masked baseline; do
        cp "$out/figure$suffix.png" "runs/faces128-$recipe$suffix/inpainting.png"
        "$PYTHON" training/sample_grid.py --model "runs/faces128-$recipe$suffix/model" \
            --images spaces/leae-demo/examples --output "runs/faces128-$recipe$suffix/samples.png"
    done
    for recipe in masked baseline; do
        PYTHON=$PYTHON bash training/stage_zoo.sh "runs/faces128-$recipe$suffix" "leae-faces-128-$recipe$suffix" \
            "$recipe" utkface "training/configs/faces128-$recipe$suffix.yaml"
    done
    "$PYTHON" training/results_tables.py --holes "${runs[@]}"
done
