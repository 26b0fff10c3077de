"""Every metric of an evaluation, declared once: where its number lives in `evaluate_model`'s result (a dotted path,
read with `metric`), what it is called, with how many decimals it is shown, and its model-index entry where a card's
YAML carries it. The model card (`leae_hub.hub.cards`: its evaluation tables and model-index), the table that
`leae evaluate` prints (`leae_hub.cli.summary_table`) and the results tables of the docs
(`training/results_tables.py`) read them here; each lays its table out itself.

The scores of a hole kind (`HOLE_SCORES`) and of a representation source (`REPRESENTATION_SCORES`) are declared once
relative to their section, and placed with `hole_metric` and `Metric.under`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from .results import metric

RECONSTRUCTION_TASK = ("image-to-image", "Image reconstruction")
INPAINTING_TASK = ("image-to-image", "Image inpainting")
CLASSIFICATION_TASK = ("image-classification", "Classification from frozen latents")
DIAGNOSTICS_TASK = ("image-feature-extraction", "Latent diagnostics")


@dataclass(frozen=True)
class ModelIndexEntry:
    """A metric's entry in a card's model-index (the fields of `huggingface_hub.EvalResult`); `metric_name` empty:
    the metric's `label`."""

    metric_type: str
    task_type: str
    task_name: str
    metric_name: str = ""


def _index(metric_type: str, task: tuple[str, str], metric_name: str = "") -> ModelIndexEntry:
    return ModelIndexEntry(metric_type, *task, metric_name=metric_name)


@dataclass(frozen=True)
class Metric:
    """One number (or section) of `evaluate_model`'s result.

    Attributes:
        path: the dotted path into the result (`"reconstruction.psnr"`), or into its section for the scores of
            `HOLE_SCORES` and `REPRESENTATION_SCORES`.
        label: its name in the model card's evaluation table; a `{}` stands for a setting the card fills in.
        digits: the decimals of a float in the card and in `leae evaluate`'s table.
        short: its name in terse tables (`leae evaluate`'s table, the columns of the docs' results tables).
        table_digits: the decimals in the docs' results tables, where they differ from `digits`.
        summary_digits: the decimals in `leae evaluate`'s table, where they differ from `digits`.
        unit: what the card writes after the value.
        model_index: its model-index entry; None keeps it out of the card's YAML.
    """

    path: str
    label: str
    digits: int = 4
    short: str = ""
    table_digits: int | None = None
    summary_digits: int | None = None
    unit: str = ""
    model_index: ModelIndexEntry | None = None

    @property
    def keys(self) -> tuple[str, ...]:
        """The path as a sequence of keys."""
        return tuple(self.path.split("."))

    @property
    def section(self) -> str:
        """The result's section holding the metric (the path's first key)."""
        return self.keys[0]

    @property
    def index_name(self) -> str:
        """The name the model-index gives the metric."""
        return (self.model_index and self.model_index.metric_name) or self.label

    @property
    def table_decimals(self) -> int:
        """The decimals in the docs' results tables."""
        return self.digits if self.table_digits is None else self.table_digits

    @property
    def summary_decimals(self) -> int:
        """The decimals in `leae evaluate`'s table."""
        return self.digits if self.summary_digits is None else self.summary_digits

    def value(self, result: dict[str, Any]) -> Any:
        """The metric in `result` (see `metric`): a number or section, `Unavailable(reason)`, or None."""
        return metric(result, self.path)

    def under(self, prefix: str, **changes: Any) -> Metric:
        """This metric placed under the dotted `prefix` (a hole kind's fill, a representation source), with
        `changes` to its other fields."""
        return dataclasses.replace(self, path=f"{prefix}.{self.path}", **changes)


# ---------------------------------------------------------------------------------------------------- reconstruction
PSNR = Metric("reconstruction.psnr", "PSNR (dB)", 2, short="PSNR", model_index=_index("psnr", RECONSTRUCTION_TASK))
BASELINE_PSNR = Metric(
    "reconstruction.per_image_mean_baseline_psnr",
    "PSNR of the per-image-mean baseline (dB)",
    2,
    short="per-image-mean PSNR",
)
SSIM = Metric(
    "reconstruction.ssim", "SSIM", short="SSIM", table_digits=3, model_index=_index("ssim", RECONSTRUCTION_TASK)
)
MS_SSIM = Metric(
    "reconstruction.ms_ssim", "MS-SSIM", short="MS-SSIM", model_index=_index("ms_ssim", RECONSTRUCTION_TASK)
)
LPIPS = Metric(
    "reconstruction.lpips", "LPIPS (AlexNet)", short="LPIPS", model_index=_index("lpips", RECONSTRUCTION_TASK)
)
FID = Metric(
    "reconstruction.fid",
    "FID (reconstructions vs inputs)",
    2,
    short="FID",
    summary_digits=4,
    model_index=_index("fid", RECONSTRUCTION_TASK),
)
# per channel, the signed mean of x̂ − x over every test pixel; the results tables show its largest |value|
COLOUR_SHIFT = Metric("reconstruction.mean_error", "mean error per channel (x̂ − x)", short="colour shift")

# -------------------------------------------------------------------------------------------------------- inpainting
HOLE_RATIO = Metric("inpainting.hole_ratio", "area of the square hole (fraction of the image)", 2)
HOLE_PSNR = Metric(
    "inpainting.psnr_hole",
    "PSNR inside the hole (dB, area {})",
    2,
    short="hole PSNR",
    model_index=_index("psnr_hole", INPAINTING_TASK, "PSNR inside the hole (dB)"),
)
TOTAL_PSNR = Metric(
    "inpainting.psnr_total",
    "PSNR of the whole inpainted image (dB)",
    2,
    short="masked-image PSNR",
    model_index=_index("psnr_total", INPAINTING_TASK, "PSNR of the whole image (dB)"),
)

# The scores of each hole kind and fill (`holes.<kind>.<fill>.<score>`; `leae_hub.evaluation.hole_scores`).
HOLE_FILLS = ("model", "mean_fill")
HOLE_SCORES: tuple[Metric, ...] = (
    Metric("psnr_hole", "PSNR (dB)", 2, short="hole PSNR"),
    Metric("ssim_hole", "SSIM", 3, short="hole SSIM"),
    Metric("psnr_total", "whole-image PSNR (dB)", 2, short="image PSNR"),
    Metric("ssim_total", "whole-image SSIM", 3, short="image SSIM"),
)
PSNR_IN_HOLE, SSIM_IN_HOLE = HOLE_SCORES[:2]


def hole_metric(kind: str, fill: str, score: Metric, **changes: Any) -> Metric:
    """The `score` of `HOLE_SCORES` for one `HOLE_KINDS` entry and one of `HOLE_FILLS`."""
    return score.under(f"holes.{kind}.{fill}", **changes)


CENTRE_25_PSNR = hole_metric(
    "centre-25",
    "model",
    PSNR_IN_HOLE,
    model_index=_index("psnr_hole_centre_25", INPAINTING_TASK, "PSNR inside a centred hole of 25 % of the area (dB)"),
)
CENTRE_25_SSIM = hole_metric(
    "centre-25",
    "model",
    SSIM_IN_HOLE,
    model_index=_index("ssim_hole_centre_25", INPAINTING_TASK, "SSIM inside a centred hole of 25 % of the area"),
)
RANDOM_HOLE_PSNR = hole_metric(
    "random",
    "model",
    PSNR_IN_HOLE,
    model_index=_index("psnr_hole_random", INPAINTING_TASK, "PSNR inside random holes (dB)"),
)

# ---------------------------------------------------------------------------------------------------- representation
REPRESENTATION = Metric("representation", "k-NN / linear probe")
# The sources of the frozen features: each holds `REPRESENTATION_SCORES`.
REPRESENTATION_SOURCES = {
    "model": "representation",
    "raw pixels": "representation.baselines.raw_pixels",
    "random-init encoder": "representation.baselines.random_init_encoder",
}
REPRESENTATION_SCORES: tuple[Metric, ...] = (
    Metric("knn_top1.5", "k-NN top-1 accuracy (cosine, k = 5)", short="k-NN@5"),
    Metric("knn_top1.20", "k-NN top-1 accuracy (cosine, k = 20)", short="k-NN@20"),
    Metric("linear_probe", "linear probe accuracy", short="linear"),
)
KNN_5 = REPRESENTATION_SCORES[0].under(
    "representation", model_index=_index("knn_top1_k5", CLASSIFICATION_TASK, "k-NN top-1 accuracy (cosine, k=5)")
)
KNN_20 = REPRESENTATION_SCORES[1].under(
    "representation", model_index=_index("knn_top1_k20", CLASSIFICATION_TASK, "k-NN top-1 accuracy (cosine, k=20)")
)
LINEAR_PROBE = REPRESENTATION_SCORES[2].under(
    "representation", model_index=_index("linear_probe", CLASSIFICATION_TASK, "Linear probe accuracy")
)

# ---------------------------------------------------------------------------------------------------------- collapse
RANKME = Metric(
    "collapse.rankme",
    "RankMe (at most {})",
    1,
    short="RankMe",
    table_digits=0,
    model_index=_index("rankme", DIAGNOSTICS_TASK, "RankMe (effective rank)"),
)
RANKME_MAX = Metric("collapse.rankme_max", "the largest possible RankMe, min(N, D)", 0)
LATENT_STD: tuple[Metric, ...] = (
    Metric("collapse.std_min", "smallest per-dimension std of the latents", 3),
    Metric("collapse.std_mean", "mean per-dimension std of the latents", 3),
    Metric("collapse.std_max", "largest per-dimension std of the latents", 3),
)
SIGREG = Metric("collapse.sigreg", "SIGReg statistic (batches of {}; ≈ 1.05 if Gaussian)", 3, short="SIGReg")
SIGREG_BATCH_SIZE = Metric("collapse.sigreg_batch_size", "the batch size of the SIGReg statistic", 0)

# ------------------------------------------------------------------------------------------------------------- model
PARAMETERS = Metric("model.parameters", "parameters", 0)
COMPRESSION_RATIO = Metric("model.compression_ratio", "compression ratio (input values / latent values)", 1, unit="×")
THROUGHPUT = Metric("model.eval_images_per_s", "eval throughput (images/s, {})", 0)
EVAL_DEVICE = Metric("model.eval_device", "the device the throughput was measured on")

METRICS: tuple[Metric, ...] = (
    PSNR,
    BASELINE_PSNR,
    SSIM,
    MS_SSIM,
    LPIPS,
    FID,
    COLOUR_SHIFT,
    HOLE_RATIO,
    HOLE_PSNR,
    TOTAL_PSNR,
    CENTRE_25_PSNR,
    CENTRE_25_SSIM,
    RANDOM_HOLE_PSNR,
    KNN_5,
    KNN_20,
    LINEAR_PROBE,
    RANKME,
    RANKME_MAX,
    *LATENT_STD,
    SIGREG,
    SIGREG_BATCH_SIZE,
    PARAMETERS,
    COMPRESSION_RATIO,
    THROUGHPUT,
    EVAL_DEVICE,
)
"""The metrics at fixed paths, in the result's order; the hole and representation scores are placed from
`HOLE_SCORES` and `REPRESENTATION_SCORES`."""
MODEL_INDEX: tuple[Metric, ...] = tuple(m for m in METRICS if m.model_index is not None)
"""What a card's model-index carries, in its order."""
