"""Publishing: the checks a model folder passes (only recognised files, no link leaving it, weights that load and are
finite, a card and `eval.json` that agree with each other and with the weights), the repo's files with the remote code
copied from this package, and one commit to the Hub."""

from __future__ import annotations

import fnmatch
import hashlib
import json
import math
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from huggingface_hub import (
    CommitInfo,
    CommitOperationAdd,
    HfApi,
    ModelCard,
    get_token,
)
from huggingface_hub.utils import validate_repo_id

from ..evaluation import metric
from ..pipeline_leae import PIPELINE_TASK, LeaeReconstructionPipeline
from .cards import LICENSE_FILE, MODEL_INDEX_METRICS, NOT_TRAINED, RENDERED_FOR, card_table_rows, is_number

# Files of a model folder that go into its repo, and what never does (paths relative to the folder). No `*.py`: the
# code comes from this package (`REMOTE_CODE_FILES`).
ALLOW_PATTERNS = ("*.json", "*.safetensors", "*.md", "*.png", "*.jpg", "*.jpeg", "*.yaml", LICENSE_FILE)
IGNORE_PATTERNS = (".*", "*/.*", "*__pycache__*", "checkpoint*", "*/checkpoint*", "runs/*", "logs/*")
# The files a leae repo holds: anything else the patterns above would upload (a stray credentials.json, notes.md)
# is refused unless named on purpose (`include`).
RECOGNISED_FILES = (
    "README.md",
    "config.json",
    "preprocessor_config.json",
    "eval.json",
    "training_config.yaml",
    "samples.png",
    "inpainting.png",
    "model.safetensors",
    "model.safetensors.index.json",
    "model-*-of-*.safetensors",
    LICENSE_FILE,
)
MAX_SHARD_SIZE = "80MB"
"""The largest weights file `leae train` saves (`save_pretrained(max_shard_size=...)`): under the 100 MB per file that
git hosts such as GitHub accept, so a staged model folder can be committed (the Hub stores any size); a model with
more weights (leae-36m: 145 MB) is saved as shards, which `from_pretrained` and `publish` take as they are."""
PACKAGE_DIR = Path(__file__).resolve().parents[1]  # the package, whose remote-code files publish copies
REMOTE_CODE_FILES = ("configuration_leae.py", "modeling_leae.py", "image_processing_leae.py", "pipeline_leae.py")
CONFIG_AUTO_MAP = {"AutoConfig": "configuration_leae.LeaeConfig", "AutoModel": "modeling_leae.LeaeModel"}
PROCESSOR_AUTO_MAP = {"AutoImageProcessor": "image_processing_leae.LeaeImageProcessor"}
CUSTOM_PIPELINES = {
    PIPELINE_TASK: {
        "impl": f"pipeline_leae.{LeaeReconstructionPipeline.__name__}",
        "pt": ["AutoModel"],
        "tf": [],
        "type": "image",
    }
}


# --------------------------------------------------------------------------------------------------------------------
# Publishing
# --------------------------------------------------------------------------------------------------------------------


def resolve_token(token: str | None = None) -> str:
    """The token to publish with: `token`, else `HF_TOKEN`, else the login cache. Raises before any network call."""
    token = token or os.environ.get("HF_TOKEN") or get_token()
    if not token:
        raise RuntimeError(
            "No Hugging Face token found, nothing was uploaded. Log in with `hf auth login` (or "
            "`huggingface-cli login`), or set the HF_TOKEN environment variable to a token with write access "
            "(https://huggingface.co/settings/tokens), or pass token=..."
        )
    return token


def _matches(path: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatch(path, pattern) for pattern in patterns)


def repo_files(model_dir: str | os.PathLike) -> list[str]:
    """The files of `model_dir` that `publish` uploads (relative POSIX paths, sorted): `ALLOW_PATTERNS` minus
    `IGNORE_PATTERNS` (hidden files, caches, checkpoints, logs). Code files are never taken from the folder."""
    root = Path(model_dir)
    files = (p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    return sorted(f for f in files if _matches(f, ALLOW_PATTERNS) and not _matches(f, IGNORE_PATTERNS))


def weight_files(model_dir: str | os.PathLike) -> list[Path]:
    """The weights a model folder holds as `save_pretrained` writes them: `[model.safetensors]`, or its shards
    `model-*-of-*.safetensors` in name order (beside their `model.safetensors.index.json`); `[]` when it has none."""
    folder = Path(model_dir)
    if (folder / "model.safetensors").is_file():
        return [folder / "model.safetensors"]
    return sorted(folder.glob("model-*-of-*.safetensors"))


def weights_sha256(model_dir: str | os.PathLike) -> str:
    """SHA-256 of a model folder's weights (`weight_files`, one after another). `leae evaluate` records it in eval.json
    (`model.weights_sha256`) and `publish` checks it, so an eval.json cannot be published beside weights it did not
    measure."""
    files = weight_files(model_dir)
    if not files:
        raise FileNotFoundError(f"{model_dir} holds no model.safetensors (nor shards of it)")
    return sha256_of_files(files)


def sha256_of_files(paths: Sequence[str | os.PathLike]) -> str:
    """SHA-256 of the files' bytes read one after another (in 1 MiB chunks, so any size fits in memory)."""
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


def read_json_object(path: str | os.PathLike, what: str) -> dict[str, Any]:
    """The JSON object in the file `path` (`what` it is, for messages); a missing file, bad JSON or another JSON value
    is a `ValueError` that names the file and what is wrong."""
    path = Path(path)
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{what} {path}: no such file.") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{what} {path} is not valid JSON ({error}).") from None
    if not isinstance(value, dict):
        raise ValueError(f"{what} {path} must hold a JSON object {{...}}, got a {type(value).__name__}.")
    return value


def _check_card_matches_metrics(folder: Path, card: ModelCard, text: str, weights: bool) -> None:
    """Check that eval.json measured the folder's weights (`weights`: its `model.weights_sha256`), and that the card's
    model-index and evaluation tables hold exactly its numbers (the card is rendered from it)."""
    metrics = read_json_object(folder / "eval.json", "the evaluation")
    if weights:
        recorded = (metrics.get("model") or {}).get("weights_sha256")
        fix = f"re-run leae evaluate --model {folder} --json {folder / 'eval.json'}, then leae card"
        if recorded is None:
            raise ValueError(
                f"{folder / 'eval.json'} does not say which weights it measured (no model.weights_sha256): {fix}."
            )
        if recorded != weights_sha256(folder):
            raise ValueError(
                f"{folder / 'eval.json'} measured other weights than {folder}'s (weights_sha256 differs): {fix}."
            )
    values = {metric_type: metric(metrics, path) for metric_type, _, path, _, _ in MODEL_INDEX_METRICS}
    expected = {key: value for key, value in values.items() if is_number(value)}
    actual = {result.metric_type: result.metric_value for result in card.data.eval_results or []}
    agree = expected.keys() == actual.keys() and all(
        is_number(actual[key]) and math.isclose(actual[key], value, rel_tol=1e-12) for key, value in expected.items()
    )
    if not agree:
        differ = sorted(k for k in expected.keys() | actual.keys() if expected.get(k) != actual.get(k))
        raise ValueError(
            f"{folder / 'README.md'} was not rendered from {folder / 'eval.json'}: the model-index differs in "
            f"{', '.join(differ)}. Re-render the card: leae card --model {folder} "
            f"--metrics {folder / 'eval.json'} ..."
        )
    rows, representation_rows, _ = card_table_rows(metrics)
    lines = [f"| {' | '.join(row)} |" for row in [*rows, *representation_rows]]
    contradicted = [line for line in lines if line not in text]
    if contradicted:
        raise ValueError(
            f"{folder / 'README.md'}'s evaluation tables do not show {folder / 'eval.json'}'s numbers (e.g. "
            f"{contradicted[0]!r} is missing). Re-render the card: leae card --model {folder} --metrics "
            f"{folder / 'eval.json'} ..."
        )


def check_model_folder(model_dir: str | os.PathLike, card_only: bool = False, include: Sequence[str] = ()) -> list[str]:
    """Check that `model_dir` is a complete leae model folder; return its files to upload. Local checks only.

    Needs `config.json`, weights (`model.safetensors` or a sharded index) that load into the model the config
    describes and are finite, `preprocessor_config.json` and a `README.md` that is a leae card (tag `leae`, rendered
    by `render_card`). When the folder has an `eval.json`, it must have measured these weights (its
    `model.weights_sha256`) and the card's model-index and evaluation tables must show its numbers; a card with
    metrics needs its `eval.json`. Only `RECOGNISED_FILES` and the files named in `include` go up, and none may be a
    link to something outside the folder. With `card_only`, the folder must hold no model and its card must say that
    the model is not trained yet.
    """
    folder = Path(model_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder: pass the folder written by save_pretrained")
    files = repo_files(folder)
    root = folder.resolve()
    for name in files:
        target = (folder / name).resolve()
        if not target.is_relative_to(root):
            raise ValueError(
                f"{folder / name} is a link to {target}, outside the folder: copy the file in, or remove the link."
            )
    stray = [name for name in files if not _matches(name, RECOGNISED_FILES) and name not in include]
    if stray:
        raise ValueError(
            f"{folder} holds files a leae repo does not: {', '.join(stray)}. Remove them, or name each one to publish "
            "on purpose (--include FILE)."
        )
    has_weights = "model.safetensors" in files or "model.safetensors.index.json" in files
    missing = []
    if card_only:
        if has_weights or "config.json" in files:
            raise ValueError(f"{folder} holds a model (config.json, weights): publish it without --card_only")
    else:
        if not has_weights and "README.md" in files and NOT_TRAINED in (folder / "README.md").read_text():
            raise FileNotFoundError(
                f"{folder} has no weights: it is a card-only entry (its card says the model is not trained yet). "
                "Publish the card alone with --card_only, or train the model and stage it first."
            )
        if "config.json" not in files:
            missing.append("config.json (model.save_pretrained(folder))")
        if not has_weights:
            missing.append("model.safetensors (model.save_pretrained(folder))")
        if "preprocessor_config.json" not in files:
            missing.append("preprocessor_config.json (LeaeImageProcessor(image_size=...).save_pretrained(folder))")
    if "README.md" not in files:
        missing.append("README.md (the model card: leae card --model ...)")
    if missing:
        raise FileNotFoundError(f"{folder} is not ready to publish; missing: " + "; ".join(missing))
    text = (folder / "README.md").read_text(encoding="utf-8")
    card = ModelCard(text)
    if "leae" not in (card.data.tags or []):
        raise ValueError(
            f"{folder / 'README.md'} is not a leae model card (no 'leae' tag; transformers' push_to_hub writes a "
            "generic one): render ours with leae card --model ..."
        )
    if card.data.get("license_link") == LICENSE_FILE and LICENSE_FILE not in files:
        raise FileNotFoundError(
            f"{folder / 'README.md'} links its license to {LICENSE_FILE}, which the folder lacks: write the card again "
            "(leae card ..., or leae_hub.hub.write_card), which writes both."
        )
    if card_only and NOT_TRAINED not in text:
        raise ValueError(
            f"{folder / 'README.md'} does not say the model is not trained yet: render the card with "
            "python -m leae_hub.hub card ... --not_trained NOTE before publishing it with --card_only"
        )
    if not card_only:
        _check_weights_load(folder)
    if "eval.json" in files:
        _check_card_matches_metrics(folder, card, text, weights=not card_only)
    elif card.data.eval_results:
        raise ValueError(
            f"{folder / 'README.md'} shows metrics but the folder has no eval.json to check them against: evaluate "
            f"(leae evaluate --model {folder} --json {folder / 'eval.json'}) and re-render the card."
        )
    return files


def _check_weights_load(folder: Path) -> None:
    """The weights load into the model `config.json` describes, every tensor present and of its shape, all finite
    (`LeaeModel.from_pretrained`'s own checks)."""
    from transformers.utils import logging as transformers_logging

    from ..modeling_leae import LeaeModel

    bars = transformers_logging.is_progress_bar_enabled()
    transformers_logging.disable_progress_bar()  # a check, not a load the user asked for: no "Loading weights" bar
    try:
        LeaeModel.from_pretrained(folder)
    except Exception as error:  # safetensors, torch and transformers each raise their own kind
        if isinstance(error, MemoryError):
            raise
        raise ValueError(
            f"{folder} does not load as a leae model ({' '.join(str(error).split())[:300]}): save it again with "
            "model.save_pretrained(folder)."
        ) from None
    finally:
        if bars:
            transformers_logging.enable_progress_bar()


def retarget_card(text: str, repo_id: str) -> str:
    """The card `text` (a README.md from `render_card`) for `repo_id`: every mention of the repo id it was rendered
    for (usage snippets, evaluation command, model-index name) becomes `repo_id`. The repo name must not change."""
    validate_repo_id(repo_id)
    found = RENDERED_FOR.search(text)
    if found is None:
        raise ValueError(
            "the card does not say which repo it was rendered for (no '<!-- Rendered for ORG/NAME' line): re-render "
            "it with python -m leae_hub.hub card ..."
        )
    rendered_for = found.group(1)
    if rendered_for.split("/")[-1] != repo_id.split("/")[-1]:
        raise ValueError(
            f"the card was rendered for {rendered_for}, whose name differs from --repo_id {repo_id}: publish under the "
            f"same name (ORG/{rendered_for.split('/')[-1]}) or re-render the card with --repo_id {repo_id}"
        )
    mention = re.compile(rf"(?<![\w./-]){re.escape(rendered_for)}(?![\w.-])")
    return mention.sub(repo_id, text)


def _with_keys(path: Path, **keys: Any) -> str:
    """The JSON file at `path` with `keys` set, in transformers' layout (sorted keys, indent 2, final newline)."""
    return json.dumps({**json.loads(path.read_text()), **keys}, indent=2, sort_keys=True) + "\n"


def prepare_repo(
    model_dir: str | os.PathLike,
    repo_id: str,
    out_dir: str | os.PathLike,
    card_only: bool = False,
    include: Sequence[str] = (),
) -> list[str]:
    """Write into `out_dir` (new or empty) exactly the files `publish` uploads for `repo_id`; return their names.

    After `check_model_folder`: the folder's files, with README.md retargeted to `repo_id` (`retarget_card`),
    `config.json` with `auto_map` and `custom_pipelines` set, `preprocessor_config.json` with `auto_map` set, and
    `REMOTE_CODE_FILES` copied from this package. A `card_only` repo gets the folder's files (its card) and no code.
    """
    validate_repo_id(repo_id)
    folder, out = Path(model_dir), Path(out_dir)
    files = check_model_folder(folder, card_only=card_only, include=include)
    rewritten = {"README.md": retarget_card((folder / "README.md").read_text(encoding="utf-8"), repo_id)}
    if not card_only:
        rewritten["config.json"] = _with_keys(
            folder / "config.json", auto_map=CONFIG_AUTO_MAP, custom_pipelines=CUSTOM_PIPELINES
        )
        rewritten["preprocessor_config.json"] = _with_keys(
            folder / "preprocessor_config.json", auto_map=PROCESSOR_AUTO_MAP
        )
    copied = {name: folder / name for name in files if name not in rewritten}
    if not card_only:
        copied.update({name: PACKAGE_DIR / name for name in REMOTE_CODE_FILES})
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(
            f"{out} exists and is not an empty folder: give a new or empty folder for the repo's files"
        )
    for name in [*rewritten, *copied]:
        (out / name).parent.mkdir(parents=True, exist_ok=True)
    for name, text in rewritten.items():
        (out / name).write_text(text, encoding="utf-8")
    for name, source in copied.items():
        shutil.copyfile(source, out / name)
    return sorted([*rewritten, *copied])


def publish(
    model_dir: str | os.PathLike,
    repo_id: str,
    token: str | None = None,
    private: bool = False,
    commit_message: str | None = None,
    card_only: bool = False,
    include: Sequence[str] = (),
) -> CommitInfo:
    """Publish a saved model folder to the Hub in one commit: weights, config, preprocessor config, remote code from
    this package, card (README.md, for `repo_id`), eval.json and images; `card_only`: the card alone.

    The repo's files are prepared first in a temporary folder (`prepare_repo`, which checks the folder), then the
    token is resolved (`resolve_token`): a missing file or token is an error before any request. Then the repo is
    created if needed (`create_repo(exist_ok=True)`) and every file goes up in a single `create_commit` with one
    `CommitOperationAdd` per file. That is the commit `upload_folder` makes without `hf_xet`; with `hf_xet` installed,
    `upload_folder` streams through a pipeline that may split an upload into several commits ("... (part 2)": past
    100 MB of inline content or after a failed commit), so we build the commit ourselves to guarantee one.
    transformers' `push_to_hub` is not used: it writes a generic README.

    Returns:
        The `CommitInfo` of the commit (its `commit_url`, `oid`).
    """
    with tempfile.TemporaryDirectory(prefix="leae-publish-") as staging:
        files = prepare_repo(model_dir, repo_id, staging, card_only=card_only, include=include)
        api = HfApi(token=resolve_token(token))
        api.create_repo(repo_id, private=private, exist_ok=True)
        operations = [CommitOperationAdd(path_in_repo=name, path_or_fileobj=f"{staging}/{name}") for name in files]
        message = commit_message or f"Upload {repo_id.split('/')[-1]} (leae-hub)"
        return api.create_commit(repo_id, operations, commit_message=message)
