"""`knn_geom`: the recommended detector. Two complementary scores, each standardised on held-out normal images
and averaged:

- `knn`: the mean Euclidean distance from an image to its `k` nearest training images, both blurred by a Gaussian
  (σ = `blur` pixels): a memory of what normal images look like, pixel by pixel;
- `transforms`: a small CNN learns to tell which of 12 geometric transformations (4 rotations × 3 translations)
  was applied to a normal image, and an image is anomalous when it cannot tell (the sum over the transformations
  of −log p(correct transformation)); the self-supervised transformation classifier of GEOM (Golan & El-Yaniv,
  "Deep Anomaly Detection Using Geometric Transformations", NeurIPS 2018), run at low resolution with fewer
  transformations to fit a CPU budget.

Both are computed by one module (`KnnGeomScorer`), which `score`, `anomaly_maps`, serving and the ONNX export all
run. Its map compares each small patch of the blurred image with the same patch, shifted by up to `map_shift`
cells, in its `map_neighbours` nearest training images, and keeps the closest: SPADE's correspondence to retrieved
normal images (Cohen & Hoshen, "Sub-Image Anomaly Detection with Deep Pyramid Correspondences", 2020), on pixels
instead of pretrained features, so the search is local.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from oneclass import params as rules
from oneclass.core import TorchDetector
from oneclass.errors import InputError
from oneclass.runtime import map_batches
from oneclass.training import Batch, fit_epochs

#: the score names, in the order `KnnGeomScorer` returns them
SCORES = ("combined", "knn", "transforms")
#: translations of the transformation classifier's input, as fractions of its side: none, right, down
TRANSLATIONS = ((0, 0), (1, 0), (0, 1))


def gaussian_kernel(sigma: float) -> torch.Tensor:
    """The 1-D Gaussian of standard deviation `sigma` pixels, cut at 3σ and summing to 1 (a single 1 for σ = 0)."""
    if sigma == 0:
        return torch.ones(1)
    radius = max(1, int(3 * sigma + 0.5))
    kernel = torch.exp(-torch.arange(-radius, radius + 1, dtype=torch.float32) ** 2 / (2 * sigma**2))
    return kernel / kernel.sum()


def rotate90(x: torch.Tensor, quarter_turns: int) -> torch.Tensor:
    """Square images rotated counter-clockwise by `quarter_turns` × 90°, with a transpose and a reversed index (ops
    that ONNX exports, unlike `torch.rot90`'s flip)."""
    reverse = torch.arange(x.shape[-1] - 1, -1, -1, device=x.device)
    for _ in range(quarter_turns % 4):
        x = x.transpose(2, 3).index_select(2, reverse)
    return x


def transformed(x: torch.Tensor, shift: int) -> list[torch.Tensor]:
    """The 12 transformations of a batch of square images, in label order: each translation (cyclic, by `shift`
    pixels) under each of the four rotations."""
    out = []
    for dx, dy in TRANSLATIONS:
        moved = torch.roll(x, (dy * shift, dx * shift), (2, 3)) if shift and (dx or dy) else x
        out.extend(rotate90(moved, r) for r in range(4))
    return out


class TransformClassifier(nn.Module):
    """Conv (stride 1) → conv (stride 2) → conv (stride 2), each with BatchNorm and ReLU, global average pooling and
    a linear layer to one logit per transformation."""

    def __init__(self, channels: int, widths: tuple[int, ...], n_transforms: int):
        super().__init__()
        layers: list[nn.Module] = []
        c = channels
        for i, w in enumerate(widths):
            layers += [nn.Conv2d(c, w, 3, 1 if i == 0 else 2, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU()]
            c = w
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c, n_transforms)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean((2, 3)))


class KnnGeomScorer(nn.Module):
    """The scoring graph: normalised images (n, C, H, W) in [0, 1] → {"combined", "knn", "transforms": (n,),
    "map": (n, H, W)}. Holds the blurred training images (`bank`), the transformation classifier and, per score,
    the median and interquartile range of held-out normals' scores that standardise it (`centre`, `scale`)."""

    def __init__(self, input_shape: tuple[int, int, int], bank_size: int, k: int, blur: float, knn_pool: int,
                 classifier_pool: int, widths: tuple[int, ...], map_neighbours: int = 1, map_shift: int = 0,
                 map_patch: int = 1):
        super().__init__()
        c, h, w = input_shape
        self.input_hw = (h, w)
        self.k, self.knn_pool, self.classifier_pool = k, knn_pool, classifier_pool
        self.map_neighbours, self.map_shift, self.map_patch = min(map_neighbours, bank_size), map_shift, map_patch
        self.shift = max(1, round((h // classifier_pool) / 7))
        features = c * math.ceil(h / knn_pool) * math.ceil(w / knn_pool)
        kernel = gaussian_kernel(blur)
        self.register_buffer("blur_row", kernel.view(1, 1, 1, -1).repeat(c, 1, 1, 1))
        self.register_buffer("bank", torch.zeros(bank_size, features))
        self.register_buffer("bank_sq", torch.zeros(bank_size))
        self.register_buffer("centre", torch.zeros(2))
        self.register_buffer("scale", torch.ones(2))
        self.classifier = TransformClassifier(c, widths, 4 * len(TRANSLATIONS))

    def knn_features(self, x: torch.Tensor) -> torch.Tensor:
        """Images blurred (separable Gaussian, zero padding) and average-pooled by `knn_pool`, as (n, C, h, w)."""
        c, r = x.shape[1], self.blur_row.shape[-1] // 2
        if r:
            row = self.blur_row.to(x.dtype)
            x = F.conv2d(x, row, padding=(0, r), groups=c)
            x = F.conv2d(x, row.transpose(2, 3), padding=(r, 0), groups=c)
        if self.knn_pool > 1:
            x = F.avg_pool2d(x, self.knn_pool, ceil_mode=True)
        return x

    def correspondence_map(self, feats: torch.Tensor, sq: torch.Tensor) -> torch.Tensor:
        """The map (n, 1, h, w) at the features' resolution: per cell, the smallest mean squared difference between
        the `map_patch`-square patch around it and the same patch in one of the `map_neighbours` nearest training
        images (by `sq`, the squared distances to the bank) shifted by up to `map_shift` cells each way."""
        n, c, h, w = feats.shape
        s, kn, p = self.map_shift, self.map_neighbours, self.map_patch // 2
        nearest = sq.topk(kn, dim=1, largest=False).indices.flatten()
        neighbours = F.pad(self.bank.index_select(0, nearest).view(n * kn, c, h, w), (s, s, s, s), mode="replicate")
        neighbours = neighbours.view(n, kn, c, h + 2 * s, w + 2 * s)
        best = None
        for dy in range(2 * s + 1):
            for dx in range(2 * s + 1):
                cells = (feats.unsqueeze(1) - neighbours[..., dy: dy + h, dx: dx + w]).pow(2).mean(2).view(n * kn, 1, h, w)
                if p:
                    cells = F.avg_pool2d(F.pad(cells, (p, p, p, p), mode="replicate"), 2 * p + 1, stride=1)
                closest = cells.view(n, kn, h, w).amin(1)
                best = closest if best is None else torch.minimum(best, closest)
        return best.unsqueeze(1)

    def classifier_input(self, x: torch.Tensor) -> torch.Tensor:
        """Images at the classifier's resolution (average-pooled by `classifier_pool`), mapped to [-1, 1]."""
        if self.classifier_pool > 1:
            x = F.avg_pool2d(x, self.classifier_pool)
        return x * 2 - 1

    def transform_logits(self, x: torch.Tensor) -> torch.Tensor:
        """The classifier's logits for every transformation of every image, (12 n, 12): the n images under
        transformation 0 first, then under 1, and so on."""
        return self.classifier(torch.cat(transformed(self.classifier_input(x), self.shift)))

    def raw_scores(self, x: torch.Tensor, maps: bool = True) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """(kNN distance (n,), transformation score (n,), map (n, H, W) or None without `maps`), before
        standardisation."""
        with torch.autocast(x.device.type, enabled=False):  # |a|² − 2ab + |b|² cancels badly in bf16
            feats = self.knn_features(x.float())
            flat = feats.flatten(1)
            sq = (flat.pow(2).sum(1, keepdim=True) - 2 * flat @ self.bank.T + self.bank_sq).clamp_min(0)
            knn = sq.topk(self.k, dim=1, largest=False).values.sqrt().mean(1)
            map_ = None
            if maps:
                map_ = self.correspondence_map(feats, sq)
                if self.knn_pool > 1:
                    map_ = F.interpolate(map_, size=self.input_hw, mode="bilinear", align_corners=False)
                map_ = map_[:, 0, : self.input_hw[0], : self.input_hw[1]]
        logits = self.transform_logits(x).float()
        log_p = logits.log_softmax(1).view(logits.shape[1], -1, logits.shape[1])  # (transformation, image, class)
        transforms = -torch.diagonal(log_p, dim1=0, dim2=2).sum(1)  # -log p(the right class), summed
        return knn, transforms, map_

    def forward(self, x: torch.Tensor, maps: bool = True) -> dict[str, torch.Tensor]:
        knn, transforms, map_ = self.raw_scores(x, maps)
        z = (torch.stack([knn, transforms], 1) - self.centre) / self.scale
        return {"combined": z.mean(1), "knn": knn, "transforms": transforms, **({"map": map_} if maps else {})}


class KnnGeom(TorchDetector):
    """Nearest-neighbour distance on blurred pixels plus a geometric-transformation classifier, standardised on
    held-out normals and averaged: oneclass's recommended detector.

    Scores (higher = more anomalous): `combined` (default), the mean of the other two after each is standardised
    by the median and interquartile range of its scores on the `holdout` normals; `knn`; `transforms`. Anomaly
    maps: per patch of the blurred image, its smallest difference to the same patch, shifted by up to `map_shift`
    cells, in the `map_neighbours` nearest training images (SPADE's correspondence, Cohen & Hoshen 2020, on pixels);
    their maximum is the image score to use where defects are small (`evaluate_category`'s `map_max`).

    Not a published method: its two members are. The transformation classifier follows GEOM (Golan & El-Yaniv,
    NeurIPS 2018) with 12 transformations (4 rotations × 3 translations) instead of 72 and a 3-layer CNN at
    `classifier_pool`-times lower resolution instead of a Wide ResNet, to train in under a minute on a CPU; the
    score is GEOM's simplified one (the log-likelihood of the right transformation, no Dirichlet fit).

    Parameters
    ----------
    k : int
        Neighbours averaged by the `knn` score. The defaults of `k`, `blur` and `widths` were chosen on validation
        anomalies created from held-out normals, no test labels (docs/methods.md, `knn_geom`).
    blur : float
        σ of the Gaussian blur (pixels) applied before the distances; 0 for none.
    knn_pool, classifier_pool : int or None
        Average-pooling factors of the kNN features and of the classifier's input; None derives them from the
        image side (kNN: to at most 32 pixels; classifier: to at most 16, so 28×28 images become 14×14).
    widths : tuple of int
        Channels of the classifier's three conv layers.
    epochs : int or None
        Training epochs of the classifier; None: as many as reach `min_steps` batches (at least 2).
    batch_size : int
        Normal images per batch (each in its 12 transformations).
    lr : float
        Adam's learning rate.
    holdout : float
        Fraction of the training images held out of both members to standardise their scores (at least 20 images).
    max_bank : int
        The most training images kept for the nearest-neighbour search (a seeded random subset beyond).
    map_neighbours, map_shift, map_patch : int
        The map's search: the nearest training images it looks in, how far (in cells of `knn_pool` pixels) a patch
        may move, and the patch's side in cells (odd). 1, 0, 1 give the squared difference to the nearest image.
        Chosen on a validation defects set (seed 1), not the test set (docs/methods.md, `knn_geom`).

    Examples
    --------
    >>> import numpy as np, oneclass
    >>> rng = np.random.default_rng(0)
    >>> normal = (rng.random((200, 28, 28)) * 60).astype(np.uint8)
    >>> det = oneclass.create("knn_geom", epochs=1, seed=0).fit(normal)
    >>> det.score(normal[:3]).default.shape
    (3,)
    """

    name = "knn_geom"
    score_names = SCORES
    default_score = "combined"
    has_anomaly_maps = True
    scoring_batch_size = 256
    input_range = (0.0, 1.0)
    param_rules = {"k": rules.integer(1), "blur": rules.number(0, 10), "knn_pool": rules.integer(1, optional=True),
                   "classifier_pool": rules.integer(1, optional=True), "widths": rules.integers(1, min_length=1),
                   "epochs": rules.integer(1, optional=True), "min_steps": rules.integer(1), "batch_size": rules.integer(2),
                   "lr": rules.number(0, low_open=True), "holdout": rules.number(0, 0.5, low_open=True),
                   "max_bank": rules.integer(1), "map_neighbours": rules.integer(1), "map_shift": rules.integer(0, 8),
                   "map_patch": rules.odd_integer(1)}
    state_attributes = ("bank_size_",)

    def __init__(self, *, input_shape: tuple[int, int, int] | None = None, k: int = 1, blur: float = 1.0,
                 knn_pool: int | None = None, classifier_pool: int | None = None, widths: tuple[int, ...] = (16, 32, 64),
                 epochs: int | None = None, min_steps: int = 160, batch_size: int = 64, lr: float = 1e-3,
                 holdout: float = 0.1, max_bank: int = 10000, map_neighbours: int = 10, map_shift: int = 2,
                 map_patch: int = 3, seed: int = 0, device: str = "auto", precision: str = "auto",
                 threshold_fpr: float = 0.05, calibration: float = 0.1):
        self._set_params(locals())

    def _pools(self) -> tuple[int, int]:
        side = max(self.input_shape_[1:])
        knn = self.knn_pool or math.ceil(side / 32)
        return knn, self.classifier_pool or math.ceil(side / 16)

    def _build(self) -> nn.Module:
        knn_pool, classifier_pool = self._pools()
        return KnnGeomScorer(self.input_shape_, self.bank_size_, self.k, self.blur, knn_pool, classifier_pool,
                             tuple(self.widths), self.map_neighbours, self.map_shift, self.map_patch)

    @property
    def square_only(self) -> str:
        return "knn_geom rotates images"

    def _fit(self, x: torch.Tensor, val, known=None) -> None:
        _, h, w = self.input_shape_
        if h // self._pools()[1] < 4:
            raise InputError(f"images of {h}×{w} are too small for classifier_pool={self._pools()[1]}: lower it")
        gen = torch.Generator().manual_seed(self.seed)
        order = torch.randperm(len(x), generator=gen)
        n_held = max(20, round(self.holdout * len(x)))
        if len(x) - n_held < max(self.k, 2):
            raise InputError(f"x: {len(x)} images are too few for knn_geom: it needs at least {n_held + max(self.k, 2)} "
                             f"(k={self.k} neighbours and {n_held} held out to standardise the scores)")
        held, train = x[order[:n_held]], x[order[n_held:]]
        bank = train[torch.randperm(len(train), generator=gen)[: self.max_bank]]
        self.bank_size_ = len(bank)
        net = self._new_net()
        device = self.torch_device
        feats = map_batches(lambda b: net.knn_features(b).flatten(1), bank, device)
        net.bank.copy_(feats)
        net.bank_sq.copy_(feats.pow(2).sum(1))
        batch_size = min(self.batch_size, max(2, len(train) // 4))
        steps_per_epoch = math.ceil(len(train) / batch_size)
        epochs = self.epochs or max(2, math.ceil(self.min_steps / steps_per_epoch))
        opt = torch.optim.Adam(net.classifier.parameters(), lr=self.lr)

        def step(batch: Batch) -> float:
            logits = net.transform_logits(batch.images)
            labels = torch.arange(logits.shape[1], device=logits.device).repeat_interleave(len(batch.images))
            loss = F.cross_entropy(logits, labels)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            return loss.item()

        def standardise(epoch: int, history: list) -> None:
            """Each score's median and interquartile range on the held-out normals, after every epoch, so that the
            model the loop tracks or checkpoints at an epoch is the whole detector of that epoch."""
            net.eval()
            raw = map_batches(lambda b: torch.stack(net.raw_scores(b, maps=False)[:2], 1), held, device)
            low, centre, high = torch.quantile(raw.double(), torch.tensor([0.25, 0.5, 0.75], dtype=torch.float64), dim=0)
            net.centre.copy_(centre.float())
            net.scale.copy_((high - low).clamp_min(1e-6).float())

        record = fit_epochs(self._run, step, train, epochs=epochs, batch_size=batch_size, generator=gen, module=net.classifier,
                            end_epoch=standardise, stateful={"opt": opt}, desc="knn_geom transformation classifier")
        net.eval()
        self.fit_info_.update(record, n_holdout=n_held, bank_size=self.bank_size_, epochs_used=epochs,
                              centre=[round(v, 6) for v in net.centre.tolist()],
                              scale=[round(v, 6) for v in net.scale.tolist()])

    def forward(self, batch: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        return self.net_(batch)

    def forward_scores(self, batch: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        return self.net_(batch, maps=False)
