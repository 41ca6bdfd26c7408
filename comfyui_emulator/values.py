"""The values that flow along the emulator's graph edges.

Real ComfyUI passes tensors; the emulator passes Pillow images and small descriptors that
carry just enough to produce deterministic, correctly sized pictures:
IMAGE is a list of RGB/RGBA images (the batch), MASK a list of ``L`` images where 255 means
1.0, LATENT a ``Latent`` in 1/8 resolution like the real thing.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from PIL import Image


@dataclass(frozen=True)
class Model:
    """A loaded diffusion model (MODEL), with the LoRAs applied to it."""

    name: str
    loras: tuple[str, ...] = ()


@dataclass(frozen=True)
class Clip:
    """A text encoder (CLIP)."""

    name: str
    last_layer: int = -1
    loras: tuple[str, ...] = ()


@dataclass(frozen=True)
class Vae:
    """A VAE; decoding turns a sampled latent into a picture."""

    name: str


@dataclass(frozen=True)
class UpscaleModel:
    """An upscale model; ``scale`` is read from its file name (``4x``, ``x2``...)."""

    name: str
    scale: int


@dataclass(frozen=True)
class Conditioning:
    """Encoded text (CONDITIONING): the prompt decides the picture with the seed."""

    text: str


@dataclass(frozen=True)
class Latent:
    """A latent batch (LATENT): size in latent units (pixels / 8)."""

    width: int
    height: int
    batch: int
    seed: int | None = None
    text: str = ""
    sampled: bool = False
    denoise: float = 1.0
    #: Encoded pictures (VAEEncode) the sampler starts from; ``denoise`` blends away.
    base: tuple[Image.Image, ...] = field(default=(), compare=False)
    #: ``noise_mask`` (SetLatentNoiseMask, VAEEncodeForInpaint): ``L`` images, 255 where
    #: the sampler may change the picture; elsewhere the base stays as it is.
    noise_mask: tuple[Image.Image, ...] = field(default=(), compare=False)

    def resized(self, width: int, height: int) -> Latent:
        return replace(self, width=max(1, width), height=max(1, height))

    @property
    def pixel_size(self) -> tuple[int, int]:
        return self.width * 8, self.height * 8


Images = list[Image.Image]
Masks = list[Image.Image]
