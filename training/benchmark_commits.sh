#!/usr/bin/env bash
# Compare the training-step speed of two commits in the same run: the benchmark of each commit, side by side at the same
# time (one thread each, so the machine's load hits both alike), ROUNDS times, for the fast path and the plain kernels.
#
#   bash training/benchmark_commits.sh BEFORE AFTER [ROUNDS] [OUT] -- [benchmark.py options]
#   bash training/benchmark_commits.sh 4480478 HEAD 3 /tmp/commits -- --recipe self-teaching masked --preset leae-cifar \
#       --image_size 32 --batch 64 --steps 8 --warmup 2 --skip_inference --skip_data
#
# Each commit is checked out in a git worktree under OUT and imported from its own src/ (PYTHONPATH) with this checkout's
# virtual environment. Writes OUT/<before|after>-<fast|plain>-<round>.json, prints img/s after / before per case and
# writes those ratios to OUT/summary.json.
set -euo pipefail
before=$1 after=$2 rounds=${3:-3} out=${4:-/tmp/benchmark-commits}
shift $(( $# >= 4 ? 4 : $# )); [ "${1:-}" = "--" ] && shift
repo="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-$repo/.venv/bin/python}"
mkdir -p "$out"
for side in before after; do
  rev=$([ $side = before ] && echo "$before" || echo "$after")
  rm -rf "$out/tree-$side"; git -C "$repo" worktree add --force --detach "$out/tree-$side" "$rev" >/dev/null
done
run() {  # side kernels round options...
  local side=$1 kernels=$2 round=$3; shift 3
  local flag=(); [ "$kernels" = plain ] && flag=(--plain_kernels)
  (cd "$out/tree-$side" && OMP_NUM_THREADS=1 PYTHONPATH="$out/tree-$side/src" "$python" training/benchmark.py \
    --threads 1 "$@" "${flag[@]}" --json "$out/$side-$kernels-$round.json" > "$out/$side-$kernels-$round.log" 2>&1)
}
for round in $(seq "$rounds"); do
  for kernels in fast plain; do
    run before $kernels "$round" "$@" & run after $kernels "$round" "$@" & wait
  done
done
"$python" - "$out" "$rounds" <<'PY'
import json, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
def rates(side, kernels, r):
    cases = json.load(open(f"{out}/{side}-{kernels}-{r}.json"))["cases"]
    return {f"{c['recipe']} {c['preset']} b{c['batch']} {c['image_size']}px": c["img_per_s"] for c in cases}
summary = {}
print("| kernels | case | " + " | ".join(f"round {r} after/before" for r in range(1, rounds + 1)) + " | median |")
print("| --- | --- |" + " --- |" * (rounds + 1))
for kernels in ("fast", "plain"):
    pairs = [(rates("before", kernels, r), rates("after", kernels, r)) for r in range(1, rounds + 1)]
    for case in pairs[0][0]:
        ratios = [a[case] / b[case] for b, a in pairs]
        print(f"| {kernels} | {case} | " + " | ".join(f"{x:.2f}" for x in ratios) + f" | {statistics.median(ratios):.2f} |")
        summary[f"{kernels} {case}"] = {"after_over_before": ratios, "median": statistics.median(ratios)}
json.dump(summary, open(f"{out}/summary.json", "w"), indent=2)
PY
for side in before after; do git -C "$repo" worktree remove --force "$out/tree-$side"; done
