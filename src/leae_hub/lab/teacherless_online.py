"""Online probes of the teacherless lab, as the seed author trains and reports them (docs/teacherless.md, "The
author's budget").

Four probes learn during training, each with its own Adam optimiser, from features detached from the model (so they
never change it), one step per training batch on the features of that batch's forward pass (kaikun213/seq-jepa,
train.py:414-471, the probes and optimisers at train.py:784-812):

- `online_linacc`: a linear classifier of the class from `z_inv` (cross-entropy);
- `online_r2`: an MLP (two hidden layers of 1024, ReLU) of the action from view 0 to view 1 from [z_0; z_1], the
  per-view codes of those views (squared error);
- `leakage_linacc`: a linear classifier of the class from z_0 (class information in the per-view code);
- `leakage_r2`: a linear map from `z_inv` to the action from view 0 to view 1 (action information in `z_inv`).

Reported as the author logs them, once per epoch (train.py:473-488, 565-579): `*_train` over every batch of the
epoch, each batch scored by the probe before its update; `*_test` on the validation set at the epoch's end, with the
model in eval mode. Accuracies are in percent; R² is `sklearn.metrics.r2_score`'s uniform average over the action
entries (`author_r2`); losses are the mean of the per-batch mean losses.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .common import r2_score

HIDDEN = 1024  # the author's equivariance probe, train.py:787-793


def author_r2(target: Tensor, predicted: Tensor) -> float:
    """R² averaged uniformly over the columns of `target` [N, K], as `sklearn.metrics.r2_score` (multioutput
    "uniform_average", force_finite) computes it:

        R² = (1/K) Σ_k (1 − Σ_i (y_ik − ŷ_ik)² / Σ_i (y_ik − ȳ_k)²),

    where a column without variance scores 1 if predicted exactly and 0 otherwise. So constant action entries (the
    shifts and scale of the rotation-only data) count as 0 and pull the average down: with 3 of 5 entries constant,
    R² ≤ 0.4."""
    scores = r2_score(target.double(), predicted.double())  # NaN for a column without variance
    exact = (target == predicted).all(dim=0).double()
    return float(torch.where(scores.isnan(), exact, scores).mean())


class _Tally:
    """What one split of one epoch accumulates: class predictions, action predictions and targets, loss sums."""

    def __init__(self) -> None:
        self.batches = 0
        self.losses = dict.fromkeys(("linloss", "r2_loss", "leak_linloss", "leak_r2_loss"), 0.0)
        self.labels: list[Tensor] = []
        self.classes: dict[str, list[Tensor]] = {"online": [], "leakage": []}
        self.actions: dict[str, list[Tensor]] = {"online": [], "leakage": [], "target": []}

    def add(self, outputs: dict[str, Tensor], losses: dict[str, Tensor], labels: Tensor, action: Tensor) -> None:
        self.batches += 1
        for name, value in losses.items():
            self.losses[name] += float(value)
        self.labels.append(labels)
        self.classes["online"].append(outputs["class_inv"].argmax(dim=1))
        self.classes["leakage"].append(outputs["class_eq"].argmax(dim=1))
        self.actions["online"].append(outputs["action_pair"])
        self.actions["leakage"].append(outputs["action_inv"])
        self.actions["target"].append(action)

    def metrics(self, split: str) -> dict[str, float]:
        """The author's eight numbers of this split (train.py:478-488, 570-579)."""
        if not self.batches:
            return {}
        labels, target, count = torch.cat(self.labels), torch.cat(self.actions["target"]), self.batches

        def accuracy(kind: str) -> float:
            return 100.0 * float((torch.cat(self.classes[kind]) == labels).double().mean())

        return {
            f"online_linacc_{split}": accuracy("online"),
            f"online_r2_{split}": author_r2(target, torch.cat(self.actions["online"])),
            f"online_linloss_{split}": self.losses["linloss"] / count,
            f"online_r2_loss_{split}": self.losses["r2_loss"] / count,
            f"leakage_linacc_{split}": accuracy("leakage"),
            f"leakage_r2_{split}": author_r2(target, torch.cat(self.actions["leakage"])),
            f"leakage_linloss_{split}": self.losses["leak_linloss"] / count,
            f"leakage_r2_loss_{split}": self.losses["leak_r2_loss"] / count,
        }


class OnlineProbes(nn.Module):
    """The four probes of the module docstring and their Adam optimisers (learning rate `lr`, the author's
    `probe_lr`, 1e-3 in their MNIST configs).

    Args:
        inv_dim: width of `z_inv`.
        eq_dim: width of a per-view code z_i.
        action_dim: entries of an action.
        num_classes: classes of the labels.
        lr: the probes' Adam learning rate.
    """

    def __init__(self, inv_dim: int, eq_dim: int, action_dim: int, num_classes: int, lr: float = 1e-3):
        super().__init__()
        self.class_inv = nn.Linear(inv_dim, num_classes)
        self.action_pair = nn.Sequential(
            nn.Linear(2 * eq_dim, HIDDEN),
            nn.ReLU(),
            nn.Linear(HIDDEN, HIDDEN),
            nn.ReLU(),
            nn.Linear(HIDDEN, action_dim),
        )
        self.class_eq = nn.Linear(eq_dim, num_classes)
        self.action_inv = nn.Linear(inv_dim, action_dim)
        self.optimizers = [torch.optim.Adam(probe.parameters(), lr=lr) for probe in self._probes()]
        self.tally = _Tally()

    def _probes(self) -> Iterator[nn.Module]:
        yield from (self.class_inv, self.action_pair, self.class_eq, self.action_inv)

    def _outputs(
        self, z_inv: Tensor, z_first: Tensor, z_second: Tensor, action: Tensor, labels: Tensor
    ) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        outputs = {
            "class_inv": self.class_inv(z_inv),
            "action_pair": self.action_pair(torch.cat([z_first, z_second], dim=1)),
            "class_eq": self.class_eq(z_first),
            "action_inv": self.action_inv(z_inv),
        }
        losses = {
            "linloss": F.cross_entropy(outputs["class_inv"], labels),
            "r2_loss": F.mse_loss(outputs["action_pair"], action),
            "leak_linloss": F.cross_entropy(outputs["class_eq"], labels),
            "leak_r2_loss": F.mse_loss(outputs["action_inv"], action),
        }
        return outputs, losses

    def train_step(self, z_inv: Tensor, z_first: Tensor, z_second: Tensor, action: Tensor, labels: Tensor) -> None:
        """One Adam step of every probe on one training batch (features detached here), scored before the step.

        Args:
            z_inv: [B, inv_dim] invariant codes; z_first, z_second: [B, eq_dim] codes of views 0 and 1;
            action: [B, action_dim] the action from view 0 to view 1; labels: [B] classes.
        """
        with torch.enable_grad():
            outputs, losses = self._outputs(z_inv.detach(), z_first.detach(), z_second.detach(), action, labels)
            for optimizer in self.optimizers:
                optimizer.zero_grad(set_to_none=True)
            sum(losses.values()).backward()  # the probes share no parameter: each gets its own loss's gradient
            for optimizer in self.optimizers:
                optimizer.step()
        detached = {k: v.detach() for k, v in outputs.items()}
        self.tally.add(detached, {k: v.detach() for k, v in losses.items()}, labels, action)

    def end_epoch(self) -> dict[str, float]:
        """The `*_train` numbers of the epoch now ending; starts a new tally."""
        metrics, self.tally = self.tally.metrics("train"), _Tally()
        return metrics

    @torch.no_grad()
    def evaluate(
        self, z_inv: Tensor, z_first: Tensor, z_second: Tensor, action: Tensor, labels: Tensor, batch_size: int
    ) -> dict[str, float]:
        """The `*_test` numbers on validation features (arguments as `train_step`, all N rows), the losses averaged
        over batches of `batch_size` as the author's validation loader batches them."""
        tally = _Tally()
        for start in range(0, z_inv.shape[0], batch_size):
            rows = slice(start, start + batch_size)
            outputs, losses = self._outputs(z_inv[rows], z_first[rows], z_second[rows], action[rows], labels[rows])
            tally.add(outputs, losses, labels[rows], action[rows])
        return tally.metrics("test")
