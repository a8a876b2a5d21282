"""`ada`: Adversarial Discriminative Attention for robust anomaly detection (Kimura et al., 2020).

A VAE-GAN is trained on normal images: the VAE reconstructs them, a discriminator D tells real images from
reconstructions and from decoded prior samples. D's Grad-CAM finally fixates on the foreground, so it is used
as a mask on the reconstruction error: background noise the VAE cannot reproduce no longer counts. With a few
known anomalies a second discriminator D_ano also learns them as negatives, and its maps and output join in.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from oneclass import params as rules
from oneclass.core import MAP, TorchDetector
from oneclass.errors import InputError
from oneclass.methods.vae import kl_to_standard_normal
from oneclass.nn import ConvEncoder, conv_block, downsampled_sizes, grad_cam, up_block
from oneclass.runtime import map_batches, to_device
from oneclass.training import Batch, fit_epochs


class Decoder(nn.Module):
    """G_dec: dense layer to the encoder's smallest map, then five convolutions (BatchNorm, LeakyReLU): one at
    that size, three after nearest-neighbour upsampling back through the encoder's sizes, and the last to the
    image channels with tanh. Channels mirror the encoder's and halve before the output, as VAE-GAN's decoder."""

    def __init__(self, input_shape: tuple[int, int, int], widths: tuple[int, ...], latent_dim: int, kernel: int):
        super().__init__()
        c, h, w = input_shape
        sizes = downsampled_sizes((h, w), len(widths))
        self.start = (widths[-1], *sizes[-1])
        self.fc = nn.Sequential(nn.Linear(latent_dim, widths[-1] * sizes[-1][0] * sizes[-1][1], bias=False),
                                nn.BatchNorm1d(widths[-1] * sizes[-1][0] * sizes[-1][1]), nn.LeakyReLU(0.2))
        rev = widths[::-1]
        outs = (*rev[1:], max(1, widths[0] // 2))
        layers = [conv_block(rev[0], rev[0], 1, kernel)]
        layers += [up_block(ch_in, ch_out, sizes[-2 - i], kernel)
                   for i, (ch_in, ch_out) in enumerate(zip(rev, outs, strict=True))]
        self.features = nn.Sequential(*layers)
        self.out = nn.Sequential(nn.Conv2d(outs[-1], c, kernel, 1, kernel // 2), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.out(self.features(self.fc(z).view(-1, *self.start)))


class Discriminator(nn.Module):
    """D: stride-2 convolutions with LeakyReLU(0.2), BatchNorm after all but the first (as DCGAN), and a dense layer
    to one logit; D(x) = sigmoid(logit), the likelihood that x is a real image of the normal class. `blocks` is
    the trunk Grad-CAM reads."""

    def __init__(self, input_shape: tuple[int, int, int], widths: tuple[int, ...], kernel: int):
        super().__init__()
        c, h, w = input_shape
        chans = (c, *widths)
        self.blocks = nn.Sequential(*[conv_block(chans[i], chans[i + 1], 2, kernel, bias=i == 0, batch_norm=i > 0)
                                      for i in range(len(widths))])
        fh, fw = downsampled_sizes((h, w), len(widths))[-1]
        self.logit = nn.Linear(widths[-1] * fh * fw, 1)

    def head(self, features: torch.Tensor) -> torch.Tensor:
        """The logit from the last conv block's features."""
        return self.logit(features.flatten(1)).squeeze(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (n,)."""
        return self.head(self.blocks(x))


class ADANetworks(nn.Module):
    """G_enc, G_dec, D_G and (semi-supervised only) D_ano, saved together."""

    def __init__(self, input_shape: tuple[int, int, int], widths: tuple[int, ...], discriminator_widths: tuple[int, ...],
                 latent_dim: int, kernel: int, with_anomaly_discriminator: bool):
        super().__init__()
        self.latent_dim = latent_dim
        self.encoder = ConvEncoder(input_shape, widths, 2 * latent_dim, kernel)
        self.decoder = Decoder(input_shape, widths, latent_dim, kernel)
        self.discriminator = Discriminator(input_shape, discriminator_widths, kernel)
        self.anomaly_discriminator = (Discriminator(input_shape, discriminator_widths, kernel)
                                      if with_anomaly_discriminator else None)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(z_μ, log z_σ²)."""
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar.clamp(-10, 10)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """x̂ = G_dec(z_μ): the posterior mean, so that scores are deterministic."""
        return self.decoder(self.encode(x)[0])

    def discriminators(self) -> list[Discriminator]:
        """D_G, and D_ano where the model has one."""
        return [self.discriminator] + ([self.anomaly_discriminator] if self.anomaly_discriminator is not None else [])


def _bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def _shuffled_residuals(xb: torch.Tensor, recon: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """For each of 2n fakes, the residual x − x̂ of a real image of the batch drawn at random, its pixels shuffled
    (per image, over channels and positions): the noise texture without the digit. Detached."""
    n = len(xb)
    residual = (xb - recon).detach().flatten(1)[torch.randint(n, (2 * n,), generator=gen)]
    order = torch.rand(residual.shape, generator=gen).argsort(1).to(residual.device)
    return residual.gather(1, order).view(2 * n, *xb.shape[1:])


class ADA(TorchDetector):
    """ADA (docs/methods.md lists what the paper leaves open and our choices).

    The defaults are our CPU budget: `widths` (16, 32, 64), `discriminator_widths` (16, 32, 64, 64, 64),
    `kernel` 3, `batch_size` 32, 30 `epochs`; the paper's (widths (64, 128, 256), (32, 64, 128, 256, 256),
    kernel 5, batch 64, 100 epochs) are `oneclass.create("ada", preset="paper")` or `--preset paper`.

    Paper: `latent_dim` 128, RMSProp with `lr` 3e-4 for all networks, `beta` (β in eq. 5; 0.2 for MNIST). Ours,
    where the paper is silent: `widths` of G_enc's three stride-2 convolutions (G_dec mirrors them),
    `discriminator_widths` of D's five, `kernel`, `epochs`, `batch_size`, and `cam_layer`, the D layer Grad-CAM
    reads (1-based; None: the deepest whose map is at least 3×3, which is the last at the paper's 84×84).

    `fake_texture` (ours, off; not in the paper): D sees each reconstruction and prior sample with the residual
    x − x̂ of a real image of the batch added, its pixels shuffled, so that pixel noise the VAE cannot reproduce no
    longer tells real from generated by itself (issue 51's test of why the attention spreads over the canvas).

    Training per batch: D_G (and D_ano) step on real → 1, reconstructions and decoded prior samples → 0
    (eq. 2; D_ano also known anomalies → 0, eq. 4), then one step of G_enc + G_dec on L_GAN + L_prior + L_image.

    Scores, with c = CAM(x) + CAM(x̂) (and the same from D_ano when trained with known anomalies, eq. 6) and
    e = x − x̂ on the network's [-1, 1] scale:
    `cam_d` (default) = ‖c ⊙ e‖² / ‖c‖² − β·D(x); `cam` = the same with β = 0; `d` = −D(x);
    `rec` = mean e² (AnoVAEGAN); `cam_d_g` = eq. 5 from D_G alone (Table 3's CAM_G + D_G; equal to `cam_d`
    without known anomalies). With D_ano, D(x) stands for D_G(x) + D_ano(x).
    Anomaly maps: c/rms(c) ⊙ |e|, so the mean of a map's squares is the image's `cam` score.
    """

    name = "ada"
    score_names = ("cam_d", "cam", "d", "rec", "cam_d_g")
    default_score = "cam_d"
    has_anomaly_maps = True
    scoring_batch_size = 256
    accepts_known_anomalies = True
    state_attributes = ("n_known_anomalies_",)
    export_refusal = "its attention maps (Grad-CAM) and so its default score need gradients, which an ONNX graph does not compute"
    param_rules = {"beta": rules.number(0), "latent_dim": rules.integer(1), "lr": rules.number(0, low_open=True),
                   "widths": rules.integers(1), "discriminator_widths": rules.integers(1), "kernel": rules.odd_integer(),
                   "cam_layer": rules.integer(1, optional=True), "epochs": rules.integer(1),
                   "batch_size": rules.integer(1), "fake_texture": rules.flag()}

    def __init__(self, *, input_shape: tuple[int, int, int] | None = None, beta: float = 0.2, latent_dim: int = 128,
                 lr: float = 3e-4, widths: tuple[int, ...] = (16, 32, 64),
                 discriminator_widths: tuple[int, ...] = (16, 32, 64, 64, 64), kernel: int = 3,
                 cam_layer: int | None = None, epochs: int = 30, batch_size: int = 32, fake_texture: bool = False,
                 seed: int = 0, device: str = "auto",
                 precision: str = "auto", threshold_fpr: float = 0.05, calibration: float = 0.1):
        self._set_params(locals())

    @classmethod
    def _check_combinations(cls, p: dict) -> None:
        if len(p["widths"]) != 3:
            raise InputError(f"widths: G_enc has three stride-2 convolutions in the paper, got {len(p['widths'])} widths")
        if p["cam_layer"] is not None and not p["cam_layer"] <= len(p["discriminator_widths"]):
            raise InputError(f"cam_layer must be 1 to {len(p['discriminator_widths'])} (a layer of D), got {p['cam_layer']}")

    @property
    def semi_supervised(self) -> bool:
        """Whether the detector was trained with known anomalies (and so has D_ano)."""
        return self.n_known_anomalies_ > 0

    def _build(self) -> nn.Module:
        # n_known_anomalies_ is set before the network is built, in `_fit` and in `load` alike
        return ADANetworks(self.input_shape_, tuple(self.widths), tuple(self.discriminator_widths), self.latent_dim,
                           self.kernel, self.semi_supervised)

    def grad_cam_layer(self) -> int:
        """The 1-based D layer whose activations Grad-CAM reads."""
        if self.cam_layer is not None:
            return self.cam_layer
        sizes = downsampled_sizes(tuple(self.input_shape_[1:]), len(self.discriminator_widths))[1:]
        return max([i + 1 for i, (h, w) in enumerate(sizes) if min(h, w) >= 3], default=1)

    # -- training ----------------------------------------------------------------------------------
    def _fit(self, x: torch.Tensor, val, known: torch.Tensor | None = None) -> None:
        gen = torch.Generator().manual_seed(self.seed)
        self.n_known_anomalies_ = 0 if known is None else len(known)
        net = self._new_net()
        device = self.torch_device
        opt_g = torch.optim.RMSprop([*net.encoder.parameters(), *net.decoder.parameters()], lr=self.lr)
        opt_d = [torch.optim.RMSprop(d.parameters(), lr=self.lr) for d in net.discriminators()]

        def step(batch: Batch) -> dict[str, float]:
            known_b = None
            if known is not None:  # as many known anomalies as normal images, drawn at random
                known_b = to_device(known[torch.randint(len(known), (len(batch.images),), generator=gen)], device)
            return self._train_step(batch.images, known_b, opt_g, opt_d, gen)

        record = fit_epochs(self._run, step, x, module=self.net_, epochs=self.epochs, batch_size=self.batch_size, generator=gen,
                            validation=self._validation(val),
                            stateful={"opt_g": opt_g, **{f"opt_d{i}": o for i, o in enumerate(opt_d)}})
        self.fit_info_.update(record, n_known_anomalies=self.n_known_anomalies_, cam_layer=self.grad_cam_layer())

    def _train_step(self, xb: torch.Tensor, known_b: torch.Tensor | None, opt_g: torch.optim.Optimizer,
                    opt_d: list[torch.optim.Optimizer], gen: torch.Generator) -> dict[str, float]:
        """One step of each discriminator on eq. 2 (D_ano: eq. 4), then one of G_enc + G_dec on eq. 3. Returns the
        batch's losses."""
        net = self.net_
        n = len(xb)
        mu, logvar = net.encode(xb)
        recon = net.decoder(mu + torch.randn(mu.shape, generator=gen).to(mu.device) * (0.5 * logvar).exp())
        sampled = net.decoder(torch.randn((n, self.latent_dim), generator=gen).to(xb.device))
        fakes = torch.cat([recon, sampled])
        if self.fake_texture:
            fakes = (fakes + _shuffled_residuals(xb, recon, gen)).clamp(-1, 1)
        losses = {}
        # real, reconstructed and sampled images in one batch, so that D trains with the BatchNorm statistics
        # its running averages hold when it is used (the same lesson as ALOCC's)
        for name, d, opt in zip(("d", "d_ano")[:len(opt_d)], net.discriminators(), opt_d, strict=True):
            extra = known_b if name == "d_ano" else xb[:0]
            logits = d(torch.cat([xb, fakes.detach(), extra]))
            loss = _bce(logits[:n], 1.0) + _bce(logits[n:2 * n], 0.0) + _bce(logits[2 * n:3 * n], 0.0)
            if name == "d_ano":
                loss = loss + _bce(logits[3 * n:], 0.0)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses[name] = loss.item()
        # G minimises the GAN terms in their non-saturating form (−log D(fake) for log(1 − D(fake)))
        logits = net.discriminator(torch.cat([xb, fakes]))
        adv = _bce(logits[n:2 * n], 1.0) + _bce(logits[2 * n:], 1.0)
        prior = kl_to_standard_normal(mu, logvar).mean()
        image = (recon - xb).pow(2).flatten(1).sum(1).mean()  # ‖x − x̂‖², Gaussian decoder
        opt_g.zero_grad(set_to_none=True)
        (adv + prior + image).backward()
        opt_g.step()
        return {**losses, "g_adv": adv.item(), "prior": prior.item(), "image": image.item()}

    # -- scoring -----------------------------------------------------------------------------------
    def _attention(self, b: torch.Tensor) -> dict[str, torch.Tensor]:
        """x̂, each discriminator's c = CAM(x) + CAM(x̂) and its logits D(x), for a batch."""
        x_hat = self.net_.reconstruct(b)
        layer = self.grad_cam_layer()
        maps, logits = [], []
        for d in self.net_.discriminators():
            cam_x, logit_x = grad_cam(d.blocks, d.head, b, layer)
            cam_r, _ = grad_cam(d.blocks, d.head, x_hat, layer)
            maps.append(cam_x + cam_r)
            logits.append(logit_x)
        return {"x_hat": x_hat, "maps": maps, "logits": logits}

    @staticmethod
    def _masked_error(c: torch.Tensor, err2: torch.Tensor) -> torch.Tensor:
        """‖c ⊙ e‖² / ‖c‖² per image; where c is zero everywhere the plain mean of e² (no attention, no mask)."""
        c2 = c.double().pow(2).flatten(1)
        weight = c2.sum(1)
        masked = (c2 * err2.double().flatten(1)).sum(1) / weight.clamp_min(1e-30)
        return torch.where(weight > 0, masked, err2.double().flatten(1).mean(1))

    def forward(self, batch: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """The scores, and as maps c/rms(c) ⊙ |x − x̂| per pixel (root mean square over channels; where c is zero,
        |x − x̂| itself)."""
        att = self._attention(batch)
        err2 = (batch - att["x_hat"]).pow(2).mean(1)  # squared error per pixel, mean over channels
        d_of_x = [torch.sigmoid(lg.double()) for lg in att["logits"]]  # D_G(x) (, D_ano(x))
        c = sum(att["maps"])
        cam = self._masked_error(c, err2)
        rms = c.pow(2).flatten(1).mean(1).sqrt()[:, None, None]
        weight = torch.where(rms > 0, c / rms.clamp_min(1e-30), torch.ones_like(c))
        return {"cam_d": cam - self.beta * sum(d_of_x), "cam": cam, "d": -sum(d_of_x), "rec": err2.flatten(1).mean(1),
                "cam_d_g": self._masked_error(att["maps"][0], err2) - self.beta * d_of_x[0], MAP: weight * err2.sqrt()}

    def reconstruct(self, x) -> np.ndarray:
        """x̂ for images `x`, as floats in [0, 1] with shape (n, C, H, W)."""
        return self._images_through(self.net_.reconstruct, x)

    def attention(self, x) -> np.ndarray:
        """c = CAM(x) + CAM(x̂) summed over the discriminators (eq. 5 / 6), shape (n, H, W), unnormalised."""
        self.net_.eval()
        return map_batches(lambda b: sum(self._attention(b)["maps"]), self.network_input(x), self.torch_device,
                           batch_size=256).numpy()
