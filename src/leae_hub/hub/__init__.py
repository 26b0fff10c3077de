"""Model cards and publishing to the Hugging Face Hub: `cards` renders and writes them, `publishing` checks a model
folder and uploads it.

    leae card --model DIR --repo_id ORG/NAME --recipe masked --data cifar10 \
        --metrics eval.json --training_config cfg.yaml --sample_grid samples.png       # writes DIR/README.md
    leae publish --model DIR --repo_id ORG/NAME [--private]                            # one commit
    leae publish --model DIR --repo_id ORG/NAME --dry_run OUT                          # writes OUT, uploads nothing
    leae publish --model model_cards/leae-celeba-128 --repo_id ORG/leae-celeba-128 --card_only

(the commands' options live in `leae_hub.cli`; `python -m leae_hub.hub card|publish ...` runs the same.)

Cards are rendered from the Jinja template `leae_hub/templates/model_card.md` (`model_cards/template.md` links to it)
with `huggingface_hub.ModelCardData`. The YAML front matter carries `library_name: transformers` (the repos load with
`AutoModel`, after `import leae_hub` or with `trust_remote_code=True`, so the Hub's transformers integration, snippet
and download counting apply), the tags `leae`, the recipe, `autoencoder`, `image-reconstruction` and `leae-hub`,
the training `datasets` (Hub ids only), the license (`other`, non-commercial research, for UTKFace and CelebA: see
`leae_hub.zoo.DATA_SOURCES`, with `license_link: LICENSE` and that file written beside the card), `pipeline_tag:
image-to-image` (the Hub's task filter; transformers 5 itself has no such pipeline task, so the published
`config.json` names the custom `leae-reconstruction` pipeline, `custom_pipelines`, which `pipeline(model=...,
trust_remote_code=True)` loads from the repo), and a `model-index` named after the repo id and built from the JSON of
`training/evaluate.py` (`MODEL_INDEX_METRICS`: numeric values only, copied exactly; a metric that is unavailable
appears in the card's table with its reason, from the JSON's `unavailable` field, but not in the model-index).

`publish` uploads a model folder (weights, config, preprocessor config, card, eval.json, images) as ONE commit, plus
the remote code (`REMOTE_CODE_FILES`): the code is copied from this installed package at publish time, never from the
folder, so every published repo runs the library's current code and staged folders hold no stale copies. It also sets
`auto_map` and `custom_pipelines` in the uploaded JSON files, and rewrites the card's repo id (usage snippets,
model-index name) to `--repo_id`. `--dry_run OUT` writes exactly the files of that commit to OUT, after the same checks,
without a token. `--card_only` publishes a card ahead of its weights (the folder's README.md, no code), only for a card
that says "Not trained yet"; a folder without weights is refused otherwise. It does not use transformers'
`push_to_hub`, which writes a generic README. Tokens come from the `token` argument, `HF_TOKEN`, or the login cache
(`hf auth login`); they are never printed or written anywhere by this module.
"""

from . import cards, publishing
from .cards import (
    BASE_TAGS,
    LIBRARY_NAME,
    LICENSE_FILE,
    LICENSE_TEXTS,
    MODEL_INDEX_METRICS,
    NON_COMMERCIAL_LICENSE,
    NOT_TRAINED,
    PIPELINE_TAG,
    TEMPLATE,
    model_index_results,
    recipe_card,
    render_card,
    repo_name,
    template_path,
    write_atomically,
    write_card,
)
from .publishing import (
    ALLOW_PATTERNS,
    CONFIG_AUTO_MAP,
    CUSTOM_PIPELINES,
    IGNORE_PATTERNS,
    MAX_SHARD_SIZE,
    PACKAGE_DIR,
    PROCESSOR_AUTO_MAP,
    RECOGNISED_FILES,
    REMOTE_CODE_FILES,
    check_model_folder,
    prepare_repo,
    publish,
    read_json_object,
    repo_files,
    resolve_token,
    retarget_card,
    sha256_of_files,
    weight_files,
    weights_sha256,
)

__all__ = [
    "ALLOW_PATTERNS",
    "BASE_TAGS",
    "CONFIG_AUTO_MAP",
    "CUSTOM_PIPELINES",
    "IGNORE_PATTERNS",
    "LIBRARY_NAME",
    "LICENSE_FILE",
    "LICENSE_TEXTS",
    "MAX_SHARD_SIZE",
    "MODEL_INDEX_METRICS",
    "NON_COMMERCIAL_LICENSE",
    "NOT_TRAINED",
    "PACKAGE_DIR",
    "PIPELINE_TAG",
    "PROCESSOR_AUTO_MAP",
    "RECOGNISED_FILES",
    "REMOTE_CODE_FILES",
    "TEMPLATE",
    "cards",
    "check_model_folder",
    "model_index_results",
    "prepare_repo",
    "publish",
    "publishing",
    "read_json_object",
    "recipe_card",
    "render_card",
    "repo_files",
    "repo_name",
    "resolve_token",
    "retarget_card",
    "sha256_of_files",
    "template_path",
    "weight_files",
    "weights_sha256",
    "write_atomically",
    "write_card",
]
