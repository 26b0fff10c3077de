"""Run the seed's MNIST JEPA script (the tutorial's `jepa_mnist.py`) as it is; score its encoder with the lab's k-NN.

    python training/seed_mnist_jepa.py --script SEED_REPO/jepa_mnist.py --seed 0 --out docs/lab/seed_mnist_jepa

The seed's number (k-NN@5 accuracy 0.9901) comes from `jepa_mnist.py` of `CICS-Oleg/JointEmbeddingArchitecturesTutorial`
at commit 5469dde (get it with `git clone` and `git show 5469dde:jepa_mnist.py > jepa_mnist.py`). This runner changes
nothing in it; it only gives it what it needs offline and seeds it:

- the full MNIST (`--mnist`, the four IDX .gz files) unpacked where the script's `datasets.MNIST("./data")` looks, in
  a temporary working folder, so nothing is downloaded;
- `torch`, `numpy` and `random` seeded with `--seed` before the script starts (the script sets no seed itself), and
  `--threads` CPU threads;
- the script's own k-NN (scikit-learn `KNeighborsClassifier`, k = 5, Euclidean, on `model.encoder` in eval mode, bank =
  the 60,000 training digits, queries = the 10,000 test digits) is recorded as it runs, with the embeddings it used;
- the run stops where the script announces its phase 2 (decoder fine-tuning on reconstruction, 15 epochs): phase 2
  trains only the decoder and comes after the k-NN, so the phase-1 numbers are the same without it.

Then the lab's own k-NN (`leae_hub.lab.mnist_jepa.knn_predict`, Euclidean and on unit-normalised embeddings) scores the
same embeddings, so the seed's encoder and `leae-mnist-jepa` are measured by one function. Writes OUT/seed-SEED.json
(scores, per-epoch losses, wall time, the script's SHA-256) and OUT/seed-SEED-encoder.pt (the phase-1 model's weights).
Needs scikit-learn, scikit-image and matplotlib beside torch and torchvision (the script imports them).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import random
import runpy
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from leae_hub.data import IdxSource  # noqa: E402
from leae_hub.lab import mnist_jepa as M  # noqa: E402
from leae_hub.lab.runner import run_experiment, settings_from_flags  # noqa: E402

MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
PHASE_2_BANNER = "🔧 Switching to reconstruction fine-tuning phase"


class _PhaseOneDone(Exception):
    """Raised by the script's `print` when it announces phase 2."""


def unpack_mnist(source: Path, work: Path) -> None:
    """Unpack the four IDX .gz files of `source` into `work/data/MNIST/raw/`, where torchvision's MNIST finds them."""
    raw = work / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for name in MNIST_FILES:
        packed = source / f"{name}.gz"
        if not packed.is_file():
            raise FileNotFoundError(f"{packed} is missing: --mnist must hold the four MNIST IDX .gz files ({name}.gz).")
        with gzip.open(packed, "rb") as reader, open(raw / name, "wb") as writer:
            shutil.copyfileobj(reader, writer)


def run_seed_script(script: Path, seed: int) -> dict[str, Any]:
    """Run `script` in the current folder until it announces phase 2; return what its k-NN saw and printed."""
    from sklearn.neighbors import KNeighborsClassifier

    record: dict[str, Any] = {"epoch_losses": []}
    fit, predict = KNeighborsClassifier.fit, KNeighborsClassifier.predict

    def recording_fit(self, features, labels):
        record["bank"], record["bank_labels"] = np.asarray(features), np.asarray(labels)
        record["model"] = sys._getframe(1).f_globals["model"]
        return fit(self, features, labels)

    def recording_predict(self, features):
        record["queries"] = np.asarray(features)
        predictions = predict(self, features)
        record["script_predictions"] = np.asarray(predictions)
        return predictions

    def script_print(*args: Any, **kwargs: Any) -> None:
        text = " ".join(str(arg) for arg in args)
        if text.startswith(PHASE_2_BANNER):
            raise _PhaseOneDone
        if text.startswith("[Phase 1: Embedding]"):
            record["epoch_losses"].append(float(text.rsplit(":", 1)[1]))
        if text.startswith("Accuracy:"):
            record["script_accuracy"] = float(text.split()[1])
        print(*args, **kwargs, flush=True)

    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)
    KNeighborsClassifier.fit, KNeighborsClassifier.predict = recording_fit, recording_predict
    try:
        runpy.run_path(str(script), init_globals={"print": script_print}, run_name="__main__")
    except _PhaseOneDone:
        pass
    finally:
        KNeighborsClassifier.fit, KNeighborsClassifier.predict = fit, predict
    if "queries" not in record:
        raise RuntimeError(f"{script} ended without its k-NN evaluation: is it jepa_mnist.py at commit 5469dde?")
    return record


def lab_scores(record: dict[str, Any]) -> dict[str, dict[str, float]]:
    """The lab's k-NN@5 (Euclidean, and on unit-normalised embeddings) on the embeddings the script's k-NN used."""
    bank = torch.from_numpy(record["bank"]).float()
    bank_labels = torch.from_numpy(record["bank_labels"]).long()
    queries = torch.from_numpy(record["queries"]).float()
    labels = torch.from_numpy(record["query_labels"]).long()
    return {
        distance: M.knn_scores_of_embeddings(bank, bank_labels, queries, labels, k=M.KNN_K, distance=distance)
        for distance in ("euclidean", "cosine")
    }


def reproduce(run: M.SeedScriptRun, argv: list[str]) -> dict[str, Any]:
    """Run the seed's script as `run` says, score its embeddings with the lab's k-NN, save its encoder's weights;
    returns the record that goes to OUT/seed-SEED.json."""
    script, mnist, out = Path(run.script).resolve(), Path(run.mnist).resolve(), Path(run.out).resolve()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="seed-mnist-") as work:
        unpack_mnist(mnist, Path(work))
        here = Path.cwd()
        os.chdir(work)
        try:
            record = run_seed_script(script, run.seed)
        finally:
            os.chdir(here)
    wall = time.perf_counter() - start
    record["query_labels"] = IdxSource(mnist, "test").labels  # the script's test loader keeps the file's order
    result = {
        "command": "python training/seed_mnist_jepa.py " + " ".join(argv),
        "script": str(Path(run.script)),
        "script_sha256": hashlib.sha256(script.read_bytes()).hexdigest(),
        "seed": run.seed,
        "threads": run.threads,
        "torch": torch.__version__,
        "wall_s": round(wall, 1),
        "epochs": len(record["epoch_losses"]),
        "epoch_losses": record["epoch_losses"],
        "script_knn_accuracy": record.get("script_accuracy"),
        "script_knn_accuracy_exact": float((record["script_predictions"] == record["query_labels"]).mean()),
        "lab_knn": lab_scores(record),
        "seed_report_accuracy": M.SEED_KNN_ACCURACY,
    }
    out.mkdir(parents=True, exist_ok=True)
    torch.save(record["model"].state_dict(), out / f"seed-{run.seed}-encoder.pt")
    print(json.dumps({key: result[key] for key in ("seed", "wall_s", "script_knn_accuracy", "lab_knn")}, indent=2))
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--script", required=True, help="the seed's jepa_mnist.py (commit 5469dde)")
    parser.add_argument("--mnist", default=M.SeedScriptRun.mnist, help="the 4 MNIST IDX .gz")
    parser.add_argument("--seed", type=int, default=M.SeedScriptRun.seed)
    parser.add_argument("--threads", type=int, default=M.SeedScriptRun.threads)
    parser.add_argument("--out", default=M.SeedScriptRun.out)
    run = settings_from_flags(M.SeedScriptRun, parser.parse_args(argv))
    path = Path(run.out).resolve() / f"seed-{run.seed}.json"
    argv = sys.argv[1:] if argv is None else argv
    return run_experiment(lambda: reproduce(run, argv), path, threads=run.threads, indent=2)


if __name__ == "__main__":
    main()
