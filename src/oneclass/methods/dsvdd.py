"""`dsvdd`: Deep SVDD (Ruff et al., ICML 2018) — map normal data into a small hypersphere.

A bias-free CNN φ is pretrained as the encoder of an autoencoder, the centre c is the mean of φ(x) over
the training data, then φ minimises the mean squared distance to c (one-class objective) or, with
`objective="soft-boundary"`, R² + 1/(νn) Σ max(0, ‖φ(x) − c‖² − R²). Score: ‖φ(x) − c‖² − R².
Preprocessing as in the paper: global contrast normalisation (L1), then min-max scaling with the
training set's extremes. Defaults are the authors' published MNIST settings.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from oneclass import params as rules
from oneclass.core import TorchDetector
from oneclass.nn import downsampled_sizes
from oneclass.runtime import map_batches
from oneclass.training import Batch, fit_epochs


def lenet_block(c_in: int, c_out: int, kernel: int) -> nn.Sequential:
    """Bias-free conv → BatchNorm without affine terms → LeakyReLU(0.1) → 2×2 max-pool (ceil mode)."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, bias=False),
                         nn.BatchNorm2d(c_out, eps=1e-4, affine=False), nn.LeakyReLU(0.1),
                         nn.MaxPool2d(2, ceil_mode=True))


class LeNetEncoder(nn.Module):
    """The paper's LeNet-type φ: conv modules with max-pooling, then a dense layer; no bias anywhere."""

    def __init__(self, input_shape: tuple[int, int, int], widths: tuple[int, ...], rep_dim: int, kernel: int = 5):
        super().__init__()
        c, h, w = input_shape
        chans = (c, *widths)
        self.features = nn.Sequential(*[lenet_block(chans[i], chans[i + 1], kernel) for i in range(len(widths))])
        fh, fw = downsampled_sizes((h, w), len(widths))[-1]
        self.fc = nn.Linear(widths[-1] * fh * fw, rep_dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).flatten(1))


class LeNetDecoder(nn.Module):
    """Mirror of `LeNetEncoder` for pretraining (upsample + bias-free conv), sigmoid output in [0, 1]."""

    def __init__(self, input_shape: tuple[int, int, int], widths: tuple[int, ...], rep_dim: int, kernel: int = 5):
        super().__init__()
        c, h, w = input_shape
        sizes = downsampled_sizes((h, w), len(widths))
        self.start = (widths[-1], *sizes[-1])
        self.fc = nn.Linear(rep_dim, widths[-1] * sizes[-1][0] * sizes[-1][1], bias=False)
        rev = widths[::-1]
        layers: list[nn.Module] = []
        for i in range(len(widths) - 1):
            layers += [nn.Upsample(size=sizes[-2 - i]), nn.Conv2d(rev[i], rev[i + 1], kernel, padding=kernel // 2, bias=False),
                       nn.BatchNorm2d(rev[i + 1], eps=1e-4, affine=False), nn.LeakyReLU(0.1)]
        layers += [nn.Upsample(size=(h, w)), nn.Conv2d(rev[-1], c, kernel, padding=kernel // 2, bias=False), nn.Sigmoid()]
        self.features = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.features(F.leaky_relu(self.fc(z), 0.1).view(-1, *self.start))


class DeepSVDDNet(nn.Module):
    """φ plus the learned centre c and radius R (buffers, so they are saved with the weights)."""

    def __init__(self, input_shape: tuple[int, int, int], widths: tuple[int, ...], rep_dim: int):
        super().__init__()
        self.phi = LeNetEncoder(input_shape, widths, rep_dim)
        self.register_buffer("center", torch.zeros(rep_dim))
        self.register_buffer("radius", torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Squared distance of φ(x) to the centre."""
        return (self.phi(x) - self.center).pow(2).sum(1)


def global_contrast_normalise(x: torch.Tensor) -> torch.Tensor:
    """Subtract each image's mean and divide by its mean absolute deviation (GCN with the L1 norm)."""
    flat = x.flatten(1)
    centred = flat - flat.mean(1, keepdim=True)
    scale = centred.abs().mean(1, keepdim=True).clamp_min(1e-8)
    return (centred / scale).view_as(x)


class DeepSVDD(TorchDetector):
    """Deep SVDD. `widths`/`rep_dim` None pick the paper's network for the input: (8, 4)/32 for one
    channel (MNIST LeNet), (32, 64, 128)/128 for colour (CIFAR-10 LeNet).

    The defaults train 30 `ae_epochs` of pretraining and 30 `epochs`, our CPU budget; the paper's 150 + 150
    are `oneclass.create("dsvdd", preset="paper")` or `--preset paper`.
    """

    name = "dsvdd"
    param_rules = {"objective": rules.one_of("one-class", "soft-boundary"), "nu": rules.number(0, 1, low_open=True),
                   "widths": rules.integers(1, optional=True), "rep_dim": rules.integer(1, optional=True),
                   "epochs": rules.integer(1), "lr": rules.number(0, low_open=True),
                   "lr_milestones": rules.integers(1, min_length=0), "weight_decay": rules.number(0),
                   "batch_size": rules.integer(1), "pretrain": rules.flag(), "ae_epochs": rules.integer(1),
                   "ae_lr": rules.number(0, low_open=True), "ae_lr_milestones": rules.integers(1, min_length=0),
                   "ae_weight_decay": rules.number(0), "eps": rules.number(0, low_open=True)}
    score_names = ("distance",)
    default_score = "distance"

    def __init__(self, *, input_shape: tuple[int, int, int] | None = None, objective: str = "one-class", nu: float = 0.1,
                 widths: tuple[int, ...] | None = None, rep_dim: int | None = None, epochs: int = 30,
                 lr: float = 1e-4, lr_milestones: tuple[int, ...] = (50,), weight_decay: float = 0.5e-6,
                 batch_size: int = 200, pretrain: bool = True, ae_epochs: int = 30, ae_lr: float = 1e-4,
                 ae_lr_milestones: tuple[int, ...] = (50,), ae_weight_decay: float = 0.5e-3, eps: float = 0.1,
                 seed: int = 0, device: str = "auto",
                 precision: str = "auto", threshold_fpr: float = 0.05, calibration: float = 0.1):
        self._set_params(locals())

    def _architecture(self) -> tuple[tuple[int, ...], int]:
        colour = self.input_shape_[0] == 3
        widths = tuple(self.widths) if self.widths else ((32, 64, 128) if colour else (8, 4))
        return widths, self.rep_dim or (128 if colour else 32)

    def _build(self) -> nn.Module:
        return DeepSVDDNet(self.input_shape_, *self._architecture())

    def _fit_normalisation(self, images: torch.Tensor) -> dict:
        g = global_contrast_normalise(images)
        return {"kind": "gcn-l1-minmax", "min": g.min().item(), "max": g.max().item()}

    def _normalise(self, images01: torch.Tensor) -> torch.Tensor:
        lo, hi = self.normalisation_["min"], self.normalisation_["max"]
        return (global_contrast_normalise(images01) - lo) / (hi - lo if hi > lo else 1.0)  # constant images: no span

    def _fit(self, x: torch.Tensor, val, known=None) -> None:
        net = self._new_net()
        device = self.torch_device
        gen = torch.Generator().manual_seed(self.seed)
        pretraining = self._pretrain(x, gen) if self.pretrain else {"train_loss": []}

        net.eval()  # the centre is the mean of the initial forward pass
        with torch.no_grad():
            center = map_batches(net.phi, x, device).mean(0)
        center[(center.abs() < self.eps) & (center < 0)] = -self.eps  # keep c away from the trivial zero solution
        center[(center.abs() < self.eps) & (center >= 0)] = self.eps
        net.center.copy_(center.to(device))

        opt = torch.optim.Adam(net.phi.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=list(self.lr_milestones), gamma=0.1)
        distances: list[torch.Tensor] = []  # of the current epoch, for the soft-boundary radius

        def step(batch: Batch) -> float:
            dist = net(batch.images)
            if self.objective == "one-class":
                loss = dist.mean()
            else:
                loss = net.radius ** 2 + F.relu(dist - net.radius ** 2).mean() / self.nu
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            distances.append(dist.detach())
            return loss.item()

        def end_epoch(epoch: int, history: list) -> None:
            sched.step()
            if self.objective == "soft-boundary":  # R is the (1 − ν)-quantile of the distances, updated each epoch
                net.radius.fill_(torch.quantile(torch.cat(distances).sqrt(), 1 - self.nu).item())
            distances.clear()

        record = fit_epochs(self._run, step, x, module=self.net_, epochs=self.epochs, batch_size=self.batch_size, generator=gen,
                            validation=self._validation(val), end_epoch=end_epoch, stateful={"opt": opt, "sched": sched})
        self.fit_info_.update(record, ae_epochs=self.ae_epochs if self.pretrain else 0, ae_loss=pretraining["train_loss"])

    def _pretrain(self, x: torch.Tensor, gen: torch.Generator) -> dict:
        """Train φ as the encoder of an autoencoder; φ keeps the pretrained weights. Returns the loop's record."""
        decoder = LeNetDecoder(self.input_shape_, *self._architecture()).to(self.torch_device)
        opt = torch.optim.Adam([*self.net_.phi.parameters(), *decoder.parameters()], lr=self.ae_lr,
                               weight_decay=self.ae_weight_decay)
        sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=list(self.ae_lr_milestones), gamma=0.1)

        def step(batch: Batch) -> float:
            loss = (decoder(self.net_.phi(batch.images)) - batch.images).pow(2).flatten(1).sum(1).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            return loss.item()

        return fit_epochs(self._run, step, x, epochs=self.ae_epochs, batch_size=self.batch_size, generator=gen,
                          module=nn.ModuleList([self.net_, decoder]), end_epoch=lambda epoch, history: sched.step(),
                          track=False, stateful={"opt": opt, "sched": sched}, desc="dsvdd pretraining")

    def forward(self, batch: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        return {"distance": self.net_(batch) - self.net_.radius ** 2}
