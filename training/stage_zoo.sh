#!/usr/bin/env bash
# Stage a finished zoo run as model_cards/<repo-name>/: what `python -m leae_hub.hub publish` uploads, except the code,
# which publish adds from src/leae_hub/ at publish time.
#
#   bash training/stage_zoo.sh RUN_DIR REPO_NAME RECIPE DATA CONFIG ["TRAINING COMMAND"]
#
#   bash training/stage_zoo.sh runs/faces128-self-teaching leae-faces-128 self-teaching utkface \
#       training/configs/faces128-self-teaching.yaml
#   bash training/stage_zoo.sh runs/celeba64-self-teaching leae-celeba-64 self-teaching celeba-half \
#       training/configs/celeba64-self-teaching.yaml
#
# Before: `python training/evaluate.py --model RUN_DIR/model --data DATA --split test --json RUN_DIR/eval.json
# --sample_grid RUN_DIR/samples.png`. RUN_DIR/inpainting.png, when there (an inpainting pair's figure), is staged and
# shown in the card with the pair's repo names. REPO_NAME must be in leae_hub.zoo.ZOO with the same DATA. DATA is one of
# leae_hub.zoo.DATA_SOURCES (cifar10, mnist, utkface, celeba-half, celeba-half-face, flwrlabs/celeba): the card's
# training-data text, Hub ids and terms of use come from there (UTKFace, CelebA: non-commercial research use only). The
# command defaults to `accelerate launch training/train.py --config CONFIG` and TRAIN_FLAGS, the flags the run was
# trained with beyond its config (e.g. "--max_steps 1000 --warmup_steps 100"), when set. The card's repo id is
# leae_hub.zoo.repo_id(REPO_NAME) (leae-hub/REPO_NAME unless LEAE_HUB_ORG is set). Steps, wall time and seed come from RUN_DIR/final_metrics.json (plus
# RUN_DIR/jepa/final_metrics.json for a JEPA run with a decoder probe); the hardware line from this machine (stage on
# the machine that trained; a GPU if torch sees one), the run's process count (metrics.jsonl), its precision as
# trained (final_metrics.json, what `auto` chose; train_config.yaml for older runs) and OMP_NUM_THREADS if set;
# HARDWARE="..." replaces it. WALL_TIME_S replaces the wall time of final_metrics.json, which counts only the last
# process of a run resumed from a checkpoint (give the sum of its parts). Output root: $MODEL_CARDS (model_cards).
set -euo pipefail
cd "$(dirname "$0")/.."
if (($# < 5)); then
    sed -n '5p' "$0" >&2
    exit 2
fi
run=$1 name=$2 recipe=$3 data=$4 config=$5
command=${6:-"accelerate launch training/train.py --config $config${TRAIN_FLAGS:+ $TRAIN_FLAGS}"}
exec "${PYTHON:-.venv/bin/python}" - "$run" "$name" "$recipe" "$data" "$command" "${MODEL_CARDS:-model_cards}" <<'EOF'
import json, os, platform, shutil, sys, tempfile
from pathlib import Path

import torch
import yaml
from transformers import AutoModel

from leae_hub import cli, hub
from leae_hub.zoo import data_source, entry, repo_id

run, name, recipe, data, command, cards = sys.argv[1:]
run = Path(run)
data_source(data)  # a KeyError names the known specs
zoo = entry(name)  # a KeyError names the zoo's repos
if zoo.data != data or not zoo.trained:
    sys.exit(f"{name} is in leae_hub.zoo.ZOO with data {zoo.data!r}, trained={zoo.trained}: stage it with DATA "
             f"{zoo.data!r}, or fix its ZooEntry")
out, repo = Path(cards) / name, repo_id(name)
shutil.rmtree(out, ignore_errors=True)
out.mkdir(parents=True)
weights = hub.weight_files(run / "model")  # model.safetensors, or its shards and their index
if len(weights) > 1:
    weights.append(run / "model" / "model.safetensors.index.json")
for path in [run / "model" / "config.json", run / "model" / "preprocessor_config.json", *weights]:
    shutil.copyfile(path, out / path.name)
for file in ("eval.json", "samples.png"):
    shutil.copyfile(run / file, out / file)
figure = []  # an inpainting pair's figure (training/faces_inpainting.sh): leAutoencoder's row first, then its twin's
if (run / "inpainting.png").is_file() and zoo.twin:
    shutil.copyfile(run / "inpainting.png", out / "inpainting.png")
    pair = [name, zoo.twin] if recipe == "masked" else [zoo.twin, name]
    figure = ["--inpainting_figure", "inpainting.png", "--inpainting_figure_models", *pair]
shutil.copyfile(run / "train_config.yaml", out / "training_config.yaml")

final = json.loads((run / "final_metrics.json").read_text())
config = yaml.safe_load((run / "train_config.yaml").read_text())
steps, wall = final["steps"], final["train_wall_time_s"]
if (run / "jepa" / "final_metrics.json").exists():  # JEPA stage, then the decoder probe
    jepa = json.loads((run / "jepa" / "final_metrics.json").read_text())
    steps, wall = f"{jepa['steps']} JEPA + {steps} decoder probe", jepa["train_wall_time_s"] + wall
metrics = run / "metrics.jsonl"
processes = int(json.loads(metrics.read_text().splitlines()[0]).get("processes", 1)) if metrics.exists() else 1
hardware = os.environ.get("HARDWARE")
if not hardware:
    used = final.get("mixed_precision", config.get("mixed_precision"))  # what `auto` chose, in runs that record it
    precision = {"bf16": "bf16 autocast", "fp16": "fp16 autocast"}.get(str(used), "fp32")
    if torch.cuda.is_available() and not config.get("cpu"):
        device = f"{processes} × {torch.cuda.get_device_name(0)} GPU"
    else:
        cpu = next(
            (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
             if "model name" in line),
            platform.machine(),
        )
        threads = os.environ.get("OMP_NUM_THREADS")
        per_process = f" × {threads} thread{'s' if threads != '1' else ''}" if threads else ""
        device = f"{cpu} CPU, {os.cpu_count()} cores, {processes} process{'es' if processes > 1 else ''}{per_process}"
        precision += ", no GPU"
    hardware = f"{device}, {precision}"
wall = float(os.environ.get("WALL_TIME_S") or wall)
info = {"steps": steps, "wall_time_s": round(wall), "seed": config.get("seed", 0), "hardware": hardware}
if isinstance(steps, int) and "batch_size" in config:  # one stage: every step saw a batch on each process
    info["images_seen"] = steps * int(config["batch_size"]) * int(config.get("gradient_accumulation_steps", 1)) * processes

with tempfile.TemporaryDirectory() as work:
    (Path(work) / "info.json").write_text(json.dumps(info))
    cli.hub_main([
        "card", "--model", str(out), "--metrics", str(out / "eval.json"), "--recipe", recipe, "--data", data,
        "--repo_id", repo, "--training_config", str(out / "training_config.yaml"), "--training_command", command,
        "--training_info", f"{work}/info.json", "--sample_grid", "samples.png", "--output", str(out), *figure,
    ])
    model, loading = AutoModel.from_pretrained(out, output_loading_info=True)  # leae_hub (imported) registered it
    assert not any(loading.values()), loading
    files = hub.prepare_repo(out, repo, f"{work}/repo")  # the checks of a real publish
print(f"{out} loads ({type(model).__name__}, {sum(p.numel() for p in model.parameters()):,} parameters) and is ready "
      f"to publish as {repo} ({len(files)} files): python -m leae_hub.hub publish --model {out} --repo_id {repo}")
EOF
