#!/usr/bin/env bash
# Stage a finished zoo run as model_cards/<repo-name>/: exactly what `python -m leae_hub.hub publish` uploads.
#
#   bash training/stage_zoo.sh RUN_DIR REPO_NAME RECIPE DATA CONFIG "TRAINING COMMAND"
#
# RUN_DIR is a train.py output folder whose model was evaluated into RUN_DIR/eval.json and RUN_DIR/samples.png by
# training/evaluate.py on the test split. The card records steps, wall time, seed and hardware from
# RUN_DIR/final_metrics.json (plus RUN_DIR/jepa/final_metrics.json for a JEPA run with a decoder probe).
set -euo pipefail
cd "$(dirname "$0")/.."
run=$1 name=$2 recipe=$3 data=$4 config=$5 command=$6
PYTHON=${PYTHON:-.venv/bin/python}
out=model_cards/$name
rm -rf "$out"
mkdir -p "$out"
cp "$run"/model/{config.json,model.safetensors,preprocessor_config.json,configuration_leae.py,modeling_leae.py,image_processing_leae.py} "$out"/
cp "$run"/eval.json "$run"/samples.png "$out"/
cp "$run"/train_config.yaml "$out"/training_config.yaml
info=$(mktemp)
"$PYTHON" - "$run" "$info" <<'EOF'
import json, os, platform, sys
from pathlib import Path

run, info = Path(sys.argv[1]), Path(sys.argv[2])
final = json.loads((run / "final_metrics.json").read_text())
steps, wall = final["steps"], final["train_wall_time_s"]
if (run / "jepa" / "final_metrics.json").exists():  # JEPA stage, then the decoder probe
    jepa = json.loads((run / "jepa" / "final_metrics.json").read_text())
    steps, wall = f"{jepa['steps']} JEPA + {steps} decoder probe", jepa["train_wall_time_s"] + wall
cpu = next(
    (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if "model name" in line),
    platform.machine(),
)
hardware = f"{cpu} CPU, {os.cpu_count()} cores, 1 thread, bf16 autocast, no GPU"
info.write_text(json.dumps({"steps": steps, "wall_time_s": round(wall), "seed": 0, "hardware": hardware}))
EOF
datasets=uoft-cs/cifar10
[[ $data == mnist ]] && datasets=ylecun/mnist
"$PYTHON" -m leae_hub.hub card --model "$out" --metrics "$out/eval.json" --recipe "$recipe" --datasets "$datasets" \
    --repo_id "org/$name" --training_config "$out/training_config.yaml" --training_command "$command" \
    --training_info "$info" --sample_grid samples.png --output "$out"
rm -f "$info"
"$PYTHON" -c "
from transformers import AutoModel
import leae_hub
model, info = AutoModel.from_pretrained('$out', output_loading_info=True)
assert not any(info.values()), info
print('$out loads:', type(model).__name__, sum(p.numel() for p in model.parameters()), 'parameters')
"
