"""`adacl`: Augment to Detect Anomalies with Continuous Labelling (ADACL).

A small CNN regressor learns to output a low value for normal images and a high one for anomalies that
are created on the fly by augmenting normal images (cut-paste, puzzling, rotation, mix-up). Labels are
drawn uniformly from [0, X_L] for normal and [X_H, 1] for created anomalies (continuous labelling); the
regressor's clipped output is the anomaly score.
"""

from __future__ import annotations

import functools
import itertools

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.optim.swa_utils import AveragedModel, update_bn

from oneclass import params as rules
from oneclass.core import TorchDetector
from oneclass.errors import InputError
from oneclass.nn import ConvEncoder, clip_straight_through
from oneclass.runtime import module_to_device, to_device
from oneclass.training import Batch, Validation, fit_epochs

AUGMENTATIONS = ("cut-paste", "puzzle", "rotation", "mix-up")
#: the 23 orders of four quarters that differ from the original
_PUZZLE_ORDERS = torch.tensor([p for p in itertools.permutations(range(4)) if p != (0, 1, 2, 3)])


class Regressor(nn.Module):
    """Stride-2 conv blocks (BatchNorm, LeakyReLU) → dense `hidden` → one output, clipped to [0, 1] as in the
    paper, or squashed by a sigmoid for the paper's BCE ablation (`sigmoid=True`)."""

    def __init__(self, input_shape: tuple[int, int, int], widths: tuple[int, ...], hidden: int, sigmoid: bool = False):
        super().__init__()
        self.features = ConvEncoder(input_shape, widths, hidden)
        self.head = nn.Linear(hidden, 1)
        self.squash = torch.sigmoid if sigmoid else functools.partial(clip_straight_through, lo=0.0, hi=1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.squash(self.head(F.leaky_relu(self.features(x), 0.2)).squeeze(1))


def member_seed(seed: int, k: int) -> int:
    """The seed member k of an ensemble (`members` > 1) trains with: member 0 is the single ADACL of `seed`."""
    return seed + 1000 * k


class MeanOutput(nn.Module):
    """A seed ensemble: the mean output of regressors trained alike from different seeds (`members` > 1)."""

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([m(x) for m in self.members]).mean(0)


# ----------------------------------------------------------------------------------- anomaly creation


def cut_paste(x: torch.Tensor, side_fraction: tuple[float, float], gen: torch.Generator) -> torch.Tensor:
    """Copy a random square patch of each image (side a random fraction of the shorter edge) to another
    random place of the same image."""
    n, _, h, w = x.shape
    short = min(h, w)
    side = torch.randint(max(1, round(side_fraction[0] * short)), max(2, round(side_fraction[1] * short)) + 1,
                         (n,), generator=gen)
    rand = lambda hi: (torch.rand(n, generator=gen) * (hi - side + 1)).long()  # noqa: E731
    sy, sx, dy, dx = rand(h), rand(w), rand(h), rand(w)
    same = (sy == dy) & (sx == dx)  # a patch pasted onto itself would leave the image unchanged
    dy = torch.where(same, (dy + 1) % (h - side + 1), dy)
    yy = torch.arange(h).view(1, h, 1)
    xx = torch.arange(w).view(1, 1, w)
    inside = ((yy >= dy.view(-1, 1, 1)) & (yy < (dy + side).view(-1, 1, 1))
              & (xx >= dx.view(-1, 1, 1)) & (xx < (dx + side).view(-1, 1, 1)))
    src_y = (yy - dy.view(-1, 1, 1) + sy.view(-1, 1, 1)).clamp(0, h - 1).expand(n, h, w)
    src_x = (xx - dx.view(-1, 1, 1) + sx.view(-1, 1, 1)).clamp(0, w - 1).expand(n, h, w)
    batch = torch.arange(n).view(-1, 1, 1).expand(n, h, w)
    pasted = x.permute(0, 2, 3, 1)[batch, src_y, src_x].permute(0, 3, 1, 2)
    return torch.where(inside.unsqueeze(1).to(x.device), pasted, x)


def puzzle(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Shuffle the four quarters of each image (never the original order). Needs even height and width."""
    n, c, h, w = x.shape
    hh, hw = h // 2, w // 2
    quarters = x[:, :, : 2 * hh, : 2 * hw].reshape(n, c, 2, hh, 2, hw).permute(0, 2, 4, 1, 3, 5).reshape(n, 4, c, hh, hw)
    order = _PUZZLE_ORDERS[torch.randint(len(_PUZZLE_ORDERS), (n,), generator=gen)]
    shuffled = quarters[torch.arange(n).unsqueeze(1), order]
    out = x.clone()
    out[:, :, : 2 * hh, : 2 * hw] = shuffled.reshape(n, 2, 2, c, hh, hw).permute(0, 3, 1, 4, 2, 5).reshape(n, c, 2 * hh, 2 * hw)
    return out


def rotate(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Rotate each image by 90° once or three times (chosen at random per image)."""
    three = torch.rand(len(x), generator=gen) < 0.5
    return torch.where(three.view(-1, 1, 1, 1).to(x.device), torch.rot90(x, 3, (2, 3)), torch.rot90(x, 1, (2, 3)))


def mix_up(x: torch.Tensor, weight: float, gen: torch.Generator) -> torch.Tensor:
    """(1 − weight) · image + weight · the image rotated by 90° or 270°."""
    return (1.0 - weight) * x + weight * rotate(x, gen)


def rearranging_kinds(height: int, width: int) -> tuple[str, ...]:
    """The created anomalies that rearrange an image's own pixels, which ALOCC's second phase and G2D's
    `augmented_share` borrow: cut-paste, rotation and, where the height and width are even, puzzle."""
    return ("cut-paste", "rotation", "puzzle") if height % 2 == 0 and width % 2 == 0 else ("cut-paste", "rotation")


def create_anomalies(x: torch.Tensor, gen: torch.Generator, kinds=("cut-paste", "puzzle", "rotation", "mix-up"),
                     cut_paste_side: tuple[float, float] = (0.25, 0.5), mix_up_weight: float = 0.5,
                     mix: str = "image") -> torch.Tensor:
    """One created anomaly of each image: one of `kinds` chosen at random per image (`mix="image"`) or one for the
    whole batch (`mix="batch"`). ADACL trains on them; ALOCC's and G2D's options borrow them."""
    kinds = list(kinds)
    pick = torch.randint(len(kinds), (len(x),) if mix == "image" else (1,), generator=gen).expand(len(x))
    out = torch.empty_like(x)
    for i, kind in enumerate(kinds):
        sel = (pick == i).nonzero().squeeze(1)
        if len(sel) == 0:
            continue
        xs = x[sel]
        if kind == "cut-paste":
            out[sel] = cut_paste(xs, cut_paste_side, gen)
        elif kind == "puzzle":
            out[sel] = puzzle(xs, gen)
        elif kind == "rotation":
            out[sel] = rotate(xs, gen)
        else:
            out[sel] = mix_up(xs, mix_up_weight, gen)
    return out


# ----------------------------------------------------------------------------------- detector


class ADACL(TorchDetector):
    """ADACL (the paper's defaults; see docs/methods.md for the choices the paper leaves open).

    Hyper-parameters: `x_l`, `x_h` — the label intervals [0, X_L] (normal) and [X_H, 1] (created anomalies);
    `labelling` "continuous" or "discrete" ({0, 1}, the paper's ablation); `loss` "mse" or "bce" (ablation: sigmoid output + BCE);
    `augmentations` — any of cut-paste, puzzle, rotation, mix-up (each created anomaly uses one, chosen
    at random per image, or one for a whole batch with `augmentation_mix="batch"`); `created_per_normal` created
    anomalies per normal image in a batch (the paper gives neither the mix nor the ratio); `epochs` — None = the
    paper's budget, 10 for one-channel and 15 for colour images (Table 2);
    `val_size` normal training images are held out and, with their augmented versions as anomalies,
    choose the epoch with the best validation AUROC (0 = no selection, the last epoch); a `val` set given
    to `fit` replaces them. Adam with a
    triangular cyclic learning rate between `base_lr` and `max_lr`, one cycle per epoch; `weight_decay` > 0 makes it
    AdamW (decoupled weight decay; the paper uses "different variations of the Adam optimizer" without naming
    them). `batch_size` normal
    images per step (each with one created anomaly), lowered on small training sets so that an epoch has at least
    `min_steps` steps (ours: the paper gives neither; 250 images at batch 64 would be 4 steps an epoch).
    `weight_average` (ours, off by default): score with the mean of the weights at the end of every epoch
    (stochastic weight averaging, Izmailov et al. 2018; the cyclic learning rate ends each epoch at its low point),
    BatchNorm statistics recomputed on training batches, instead of the epoch the validation set selects.
    `members` (ours, 1 = the paper): train that many regressors, member k exactly as ADACL with seed `seed + 1000·k`
    (its own initialisation, batches, created anomalies and held-out validation images), and score with the mean of
    their outputs (a seed ensemble).
    """

    name = "adacl"
    score_names = ("regression",)
    default_score = "regression"
    input_range = (0.0, 1.0)
    param_rules = {"x_l": rules.number(0, 1), "x_h": rules.number(0, 1), "labelling": rules.one_of("continuous", "discrete"),
                   "loss": rules.one_of("mse", "bce"), "augmentations": rules.subset_of(*AUGMENTATIONS),
                   "widths": rules.integers(1), "hidden": rules.integer(1), "epochs": rules.integer(1, optional=True),
                   "batch_size": rules.integer(1), "base_lr": rules.number(0, low_open=True),
                   "max_lr": rules.number(0, low_open=True), "weight_decay": rules.number(0), "val_size": rules.integer(0),
                   "min_steps": rules.integer(1), "created_per_normal": rules.integer(1),
                   "augmentation_mix": rules.one_of("image", "batch"), "weight_average": rules.flag(),
                   "cut_paste_side": rules.numbers(0, 1, length=2, low_open=True), "mix_up_weight": rules.number(0, 1),
                   "members": rules.integer(1)}

    def __init__(self, *, input_shape: tuple[int, int, int] | None = None, x_l: float = 0.3, x_h: float = 0.7,
                 labelling: str = "continuous", loss: str = "mse", augmentations: tuple[str, ...] = AUGMENTATIONS,
                 widths: tuple[int, ...] = (32, 64, 128), hidden: int = 64, epochs: int | None = None,
                 batch_size: int = 64, min_steps: int = 8, created_per_normal: int = 1,
                 augmentation_mix: str = "image", base_lr: float = 1e-4, max_lr: float = 1e-3,
                 weight_decay: float = 0.0, val_size: int = 150, weight_average: bool = False,
                 cut_paste_side: tuple[float, float] = (0.25, 0.5), mix_up_weight: float = 0.5, members: int = 1,
                 seed: int = 0, device: str = "auto", precision: str = "auto", threshold_fpr: float = 0.05,
                 calibration: float = 0.1):
        self._set_params(locals())

    @classmethod
    def _check_combinations(cls, p: dict) -> None:
        if not p["x_l"] < p["x_h"]:
            raise InputError(f"need 0 <= x_l < x_h <= 1, got x_l={p['x_l']}, x_h={p['x_h']}")
        if not p["base_lr"] <= p["max_lr"]:
            raise InputError(f"the cyclic learning rate needs base_lr <= max_lr, got {p['base_lr']} and {p['max_lr']}")
        if not p["cut_paste_side"][0] <= p["cut_paste_side"][1]:
            raise InputError(f"cut_paste_side is (smallest, largest) side, got {tuple(p['cut_paste_side'])}")

    @property
    def epochs_(self) -> int:
        """The epochs `fit` trains: `epochs`, else 10 for grey and 15 for colour images."""
        return self.epochs if self.epochs is not None else (10 if self.input_shape_[0] == 1 else 15)

    def _regressor(self) -> nn.Module:
        return Regressor(self.input_shape_, tuple(self.widths), self.hidden, sigmoid=self.loss == "bce")

    def _build(self) -> nn.Module:
        if self.members == 1:
            return self._regressor()
        return MeanOutput([self._regressor() for _ in range(self.members)])

    def create_anomalies(self, x: torch.Tensor, gen: torch.Generator, mix: str = "image") -> torch.Tensor:
        """One augmented copy of each image, each with one of the enabled augmentations chosen at random
        (`mix="image"`), or all with the same one (`mix="batch"`)."""
        return create_anomalies(x, gen, self.augmentations, tuple(self.cut_paste_side), self.mix_up_weight, mix)

    def _labels(self, n_normal: int, n_anomalous: int, gen: torch.Generator) -> torch.Tensor:
        if self.labelling == "discrete":
            return torch.cat([torch.zeros(n_normal), torch.ones(n_anomalous)])
        return torch.cat([torch.rand(n_normal, generator=gen) * self.x_l,
                          self.x_h + torch.rand(n_anomalous, generator=gen) * (1.0 - self.x_h)])

    def _objective(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.loss == "mse":
            return F.mse_loss(pred, target)
        return F.binary_cross_entropy(pred, target)

    @property
    def square_only(self) -> str | None:
        square = sorted({"rotation", "mix-up"} & set(self.augmentations), reverse=True)
        return (f"adacl's {' and '.join(square)} augmentation{'s' if len(square) > 1 else ''}; leave "
                f"{'them' if len(square) > 1 else 'it'} out of augmentations for other shapes") if square else None

    def _fit(self, x: torch.Tensor, val, known=None) -> None:
        self._check_network_size()
        if self.members == 1:
            self.fit_info_.update(self._fit_member(x, val, self.seed))
            return
        trained, records = [], []
        for k in range(self.members):
            seed = member_seed(self.seed, k)
            torch.manual_seed(seed)  # as `fit` seeds a single ADACL with this seed
            records.append(self._fit_member(x, val, seed, desc=f"adacl member {k + 1}/{self.members}"))
            trained.append(self.net_)
        self.net_ = MeanOutput(trained).eval()
        self.fit_info_.update(records[0], member_best_epochs=[r["best_epoch"] for r in records],
                              member_val_histories=[r["val_history"] for r in records])

    def _fit_member(self, x: torch.Tensor, val, seed: int, desc: str | None = None) -> dict:
        """Train one regressor into `self.net_`, everything drawn from `seed`; returns its training record."""
        gen = torch.Generator().manual_seed(seed)
        x_train, validation = x, self._validation(val)
        if val is None and 0 < self.val_size < len(x) // 2:  # the paper's validation set
            order = torch.randperm(len(x), generator=gen)
            x_train, x_val = x[order[self.val_size:]], x[order[: self.val_size]]
            val_images = torch.cat([x_val, self.create_anomalies(x_val, gen)])
            validation = Validation("val-normal-aug", np.r_[np.zeros(self.val_size, np.int64), np.ones(self.val_size, np.int64)],
                                    lambda: self._outputs(val_images)["regression"])
        self.net_ = net = module_to_device(self._regressor(), self.torch_device)
        opt = (torch.optim.AdamW(net.parameters(), lr=self.max_lr, weight_decay=self.weight_decay) if self.weight_decay
               else torch.optim.Adam(net.parameters(), lr=self.max_lr))
        batch_size = min(self.batch_size, -(-len(x_train) // self.min_steps))  # small sets: at least min_steps steps
        steps = max(1, (len(x_train) + batch_size - 1) // batch_size)
        sched = torch.optim.lr_scheduler.CyclicLR(opt, self.base_lr, self.max_lr, step_size_up=max(1, steps // 2),
                                                  step_size_down=max(1, steps - steps // 2), cycle_momentum=False)

        def step(batch: Batch) -> float:
            normal = batch.images
            created = self.create_anomalies(torch.cat([normal] * self.created_per_normal), gen, self.augmentation_mix)
            xb = torch.cat([normal, created])
            yb = self._labels(len(normal), len(created), gen).to(normal.device)
            loss = self._objective(net(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            return loss.item()

        stateful = {"opt": opt, "sched": sched}
        average = None
        if self.weight_average:
            stateful["average"] = average = AveragedModel(net, use_buffers=False)
        record = fit_epochs(self._run, step, x_train, module=self.net_, epochs=self.epochs_, batch_size=batch_size, generator=gen,
                            validation=validation, stateful=stateful, desc=desc,
                            end_epoch=None if average is None else lambda epoch, history: average.update_parameters(net))
        if average is not None:
            self._use_average(average, x_train, batch_size, seed)
            record.update(selection="weight-average", best_epoch=None)
        return {**record, "n_train_used": len(x_train), "batch_size_used": batch_size}

    def _use_average(self, average: AveragedModel, x_train: torch.Tensor, batch_size: int, seed: int) -> None:
        """Load the epochs' mean weights into the network and recompute its BatchNorm statistics on batches like
        training's: normal images and as many created anomalies."""
        self.net_.load_state_dict(average.module.state_dict())
        gen = torch.Generator().manual_seed(seed + 1)
        batches = (to_device(b, self.torch_device) for b in x_train.split(batch_size))
        update_bn((torch.cat([b, self.create_anomalies(b, gen, self.augmentation_mix)]) for b in batches), self.net_)
        self.net_.eval()

    def forward(self, batch: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        return {"regression": self.net_(batch)}
