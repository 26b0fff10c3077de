"""Start-up times: `import leae_hub`, the `leae` command's help and version, and the first use of a leae class.

    python training/import_benchmark.py --repeats 7 --json import_times.json
    python training/import_benchmark.py --baseline /tmp/old/src   # also time another source tree, alternating

Each case is a fresh interpreter (`python -c ...`), timed from start to exit; the table shows the median and the
spread (min-max) of `--repeats` runs. With `--baseline SRC`, every run of a case is timed for both source trees in
turn (this checkout's src/ first, then SRC), so both sides see the same machine load, and the ratio of the medians is
printed. The first run of each case warms the file cache and is not counted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
CASES = {
    "import leae_hub": "import leae_hub",
    "leae --help": "import sys; from leae_hub.cli import main; sys.argv = ['leae', '--help']; main()",
    "leae --version": "import sys; from leae_hub.cli import main; sys.argv = ['leae', '--version']; main()",
    "import leae_hub, then AutoModel": "import leae_hub; from transformers import AutoModel",
    "leae_hub.LeaeModel": "import leae_hub; leae_hub.LeaeModel",
}


def run_once(code: str, src: Path) -> float | None:
    """Seconds for one fresh interpreter to run `code` with `src` first on its path; None if it fails (a command
    the tree does not have, e.g. `--version` in an older one)."""
    env = {**os.environ, "PYTHONPATH": str(src), "OMP_NUM_THREADS": "1"}
    start = time.perf_counter()
    completed = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True)
    return time.perf_counter() - start if completed.returncode == 0 else None


def main(argv: list[str] | None = None) -> dict[str, dict[str, list[float | None]]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--baseline", type=Path, help="another leae_hub source tree (its src/) to time alike")
    parser.add_argument("--json", type=Path, help="write the times (seconds) here")
    args = parser.parse_args(argv)
    trees = {"this checkout": SRC, **({"baseline": args.baseline.resolve()} if args.baseline else {})}
    times: dict[str, dict[str, list[float | None]]] = {case: {tree: [] for tree in trees} for case in CASES}
    for case, code in CASES.items():
        for src in trees.values():
            run_once(code, src)  # warm-up
        for _ in range(args.repeats):
            for tree, src in trees.items():
                times[case][tree].append(run_once(code, src))
    header = f"| case | {' | '.join(f'{tree}: median (min-max) s' for tree in trees)} |"
    header += " ratio |" if args.baseline else ""
    print(header)
    print("|" + " --- |" * (len(trees) + 1 + bool(args.baseline)))
    medians: dict[str, dict[str, float | None]] = {}
    for case, by_tree in times.items():
        medians[case] = {tree: None if None in t else statistics.median(t) for tree, t in by_tree.items()}
        cells = [
            "fails" if None in t else f"{statistics.median(t):.2f} ({min(t):.2f}-{max(t):.2f})"  # type: ignore[type-var]
            for t in by_tree.values()
        ]
        ratio = ""
        if args.baseline:
            new, old = medians[case]["this checkout"], medians[case]["baseline"]
            ratio = f" {new / old:.3f} |" if new and old else " - |"
        print(f"| {case} | {' | '.join(cells)} |{ratio}")
    if args.json:
        report = {"repeats": args.repeats, "trees": {k: str(v) for k, v in trees.items()}, "median_s": medians}
        args.json.write_text(json.dumps({**report, "seconds": times}, indent=2))
    return times


if __name__ == "__main__":
    main()
