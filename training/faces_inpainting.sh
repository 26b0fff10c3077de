#!/usr/bin/env bash
# Evaluate and stage the face inpainting pairs (leAutoencoder and its masked-MSE baseline, UTKFace 128 px) once their
# runs have finished: `bash training/faces_inpainting.sh SUFFIX...` with SUFFIX "" (the 6x pair, leae-2m) and/or
# "-l512" (leae-36m). For each model of a pair: evaluate.py on the UTKFace test split (all 1,000 faces, the hole
# kinds of table h, gender probes on 1,000 training faces) into docs/results/faces128-inpainting/utkface-<recipe>...
# and on the CelebA half-resolution test split (a seeded 250 of its 500 faces, another data set it never saw) into
# .../celeba-half-<recipe>..., as CelebA frames its faces (the face about half the side) and cropped to the face as
# UTKFace frames them (`celeba-half-face`) into .../celeba-half-face-<recipe>... (batches of 32: on this CPU a batch
# of 256 took about 2.4 s an image under load, batches of 32 about 1.4 s); an evaluation whose JSON is already there
# is kept (each JSON names the weights it measured,
# and staging refuses an eval.json of other weights); the UTKFace one is the run's eval.json.
# Then stage it (training/stage_zoo.sh) with its sample grid and the pair's inpainting figure (input, centred hole,
# leAutoencoder, baseline) on the Space's example faces, and print table h (training/results_tables.py --holes).
#
#   PYTHON          the interpreter (default: .venv/bin/python)
#   MASKED_RUN      leAutoencoder's run folder (default: runs/faces128-masked<SUFFIX>)
#   BASELINE_RUN    the baseline's run folder (default: runs/faces128-baseline<SUFFIX>)
#   TAG             appended to the JSON and figure names, e.g. -1000steps for a pair continued to 1,000 steps
#   MASKED_WALL_TIME_S, BASELINE_WALL_TIME_S   each run's training wall time for its card (stage_zoo.sh's
#                   WALL_TIME_S: the sum of the parts of a resumed run)
#   TRAIN_FLAGS     the flags both runs were trained with beyond their configs (e.g. "--max_steps 1000 --warmup_steps
#                   100 --eval_every 110 --sample_every 110"), for the cards' training command (stage_zoo.sh's)
#   MASKED_HARDWARE, BASELINE_HARDWARE   each run's hardware line for its card (stage_zoo.sh's HARDWARE), where a
#                   model was trained on another machine than the one staging it (default: this machine's)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
TAG=${TAG:-}
out=docs/results/faces128-inpainting
mkdir -p "$out"
for suffix in "$@"; do
    runs=("${MASKED_RUN:-runs/faces128-masked$suffix}" "${BASELINE_RUN:-runs/faces128-baseline$suffix}")
    recipes=(masked baseline)
    walls=("${MASKED_WALL_TIME_S:-}" "${BASELINE_WALL_TIME_S:-}")
    hardware=("${MASKED_HARDWARE:-}" "${BASELINE_HARDWARE:-}")
    for i in 0 1; do
        run=${runs[$i]} recipe=${recipes[$i]}
        utkface=$out/utkface-$recipe$suffix$TAG.json
        [[ -f $utkface ]] || "$PYTHON" training/evaluate.py --model "$run/model" --data utkface --split test \
            --json "$utkface" --max_train_images 1000 --batch_size 32
        for celeba in celeba-half celeba-half-face; do
            json=$out/$celeba-$recipe$suffix$TAG.json
            [[ -f $json ]] || "$PYTHON" training/evaluate.py --model "$run/model" --data $celeba --split test \
                --no_representation --max_images 250 --batch_size 32 --json "$json"
        done
        cp "$utkface" "$run/eval.json"
    done
    # The pair's figure (input, hole, leAutoencoder, baseline), in both cards; each card's own sample grid.
    figure=$out/figure$suffix$TAG.png
    "$PYTHON" training/sample_grid.py --model "${runs[0]}/model" --compare "${runs[1]}/model" \
        --images spaces/leae-demo/examples --hole centre-25 --output "$figure"
    for i in 0 1; do
        cp "$figure" "${runs[$i]}/inpainting.png"
        "$PYTHON" training/sample_grid.py --model "${runs[$i]}/model" --images spaces/leae-demo/examples \
            --output "${runs[$i]}/samples.png"
    done
    for i in 0 1; do
        WALL_TIME_S=${walls[$i]} HARDWARE=${hardware[$i]} PYTHON=$PYTHON bash training/stage_zoo.sh "${runs[$i]}" \
            "leae-faces-128-${recipes[$i]}$suffix" "${recipes[$i]}" utkface "training/configs/faces128-${recipes[$i]}$suffix.yaml"
    done
    "$PYTHON" training/results_tables.py --holes "${runs[@]}"
done
