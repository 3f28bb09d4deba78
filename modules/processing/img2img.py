"""img2img inputs: resize modes, the initial latent, and inpainting masks (A1111 semantics).

Resize modes: 0 just resize, 1 crop and resize, 2 resize and fill (outpainting), 3 latent
upscale. Masked content (inpainting_fill): 0 fill, 1 original, 2 latent noise, 3 latent nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

from modules.processing import latents as latent_ops
from modules.processing.masks import CropRegion, composite, fill_masked_area, masked_region, prepare_mask
from modules.processing.params import Img2ImgParams
from modules.sd_models.loader import LoadedModel

RESAMPLE = Image.Resampling.LANCZOS


def resize_image(mode: int, image: Image.Image, width: int, height: int) -> Image.Image:
    image = image.convert("RGB")
    if mode in (0, 3):
        return image.resize((width, height), RESAMPLE)
    if mode == 1:
        return ImageOps.fit(image, (width, height), RESAMPLE)
    # mode 2: fit inside, then extend the border colours into the empty bands (outpainting)
    ratio = min(width / image.width, height / image.height)
    inner = image.resize((max(1, round(image.width * ratio)), max(1, round(image.height * ratio))), RESAMPLE)
    canvas = inner.resize((width, height), RESAMPLE)  # stretched edges as the fill
    canvas.paste(inner, ((width - inner.width) // 2, (height - inner.height) // 2))
    return canvas


def resize_mask(mode: int, mask: Image.Image, width: int, height: int) -> Image.Image:
    """Masks follow their image; in resize-and-fill the new bands are to be painted (white)."""
    if mode != 2:
        return resize_image(mode, mask.convert("RGB"), width, height).convert("L")
    ratio = min(width / mask.width, height / mask.height)
    inner = mask.convert("L").resize((max(1, round(mask.width * ratio)), max(1, round(mask.height * ratio))))
    canvas = Image.new("L", (width, height), 255)
    canvas.paste(inner, ((width - inner.width) // 2, (height - inner.height) // 2))
    return canvas


@dataclass
class Img2ImgPlan:
    params: Img2ImgParams
    model: LoadedModel
    size: tuple[int, int]  # what the sampler works on (width, height)
    sources: list[Image.Image]  # per image of a batch, resized to the output size
    init_latent: torch.Tensor  # [batch, 4, h, w]
    masks: list[Image.Image] | None = None  # blurred masks at output size (white = repaint)
    region: CropRegion | None = None  # "only masked" crop box in output coordinates
    latent_mask: torch.Tensor | None = None  # [batch, 1, h, w], 1 = repaint

    def start_latent(self, iteration: int, noise: torch.Tensor, sigma0: torch.Tensor, rng) -> torch.Tensor:
        init = self.init_latent
        fill = self.params.inpainting_fill
        if self.latent_mask is not None and fill in (2, 3):
            keep = 1 - self.latent_mask
            init = init * keep + (rng.next() * self.latent_mask if fill == 2 else 0)
        if self.model.flow_shift is not None:  # SD3: x = (1 - sigma) * x0 + sigma * noise
            from modules.sampling.flow import noised

            return noised(init, noise * self.params.initial_noise_multiplier, sigma0)
        return init + noise * self.params.initial_noise_multiplier * sigma0

    def attach(self, denoiser, iteration: int) -> None:
        """Inpainting models see mask + masked image; other models get the unmasked latents
        blended back every step; instruct-pix2pix sees the input image latent."""
        variant = self.model.arch.variant
        if variant == "inpaint":
            mask = self.latent_mask if self.latent_mask is not None else torch.ones_like(self.init_latent[:, :1])
            masked = [Image.composite(Image.new("RGB", src.size), src, m) if self.masks else src
                      for src, m in zip(self._working_sources(), self._working_masks())]
            image_latent = latent_ops.encode(self.model.vae, latent_ops.images_to_tensor(masked))
            denoiser.image_cond = torch.cat([torch.round(mask), image_latent], dim=1)
        elif variant == "instruct-pix2pix":
            denoiser.image_cond = self.init_latent / self.model.scaling_factor
            denoiser.image_cfg_scale = self.params.image_cfg_scale if self.params.image_cfg_scale is not None else 1.5
        if self.latent_mask is not None and variant == "base":
            denoiser.init_latent = self.init_latent
            denoiser.keep_mask = 1 - self.latent_mask

    def _working_sources(self) -> list[Image.Image]:
        return [self._crop(src) for src in self.sources]

    def _working_masks(self) -> list[Image.Image]:
        masks = self.masks or [Image.new("L", self.size, 255)] * len(self.sources)
        return [self._crop(m).convert("L") for m in masks]

    def _crop(self, image: Image.Image) -> Image.Image:
        if self.region is None:
            return image
        box = (self.region.left, self.region.top, self.region.right, self.region.bottom)
        return image.crop(box).resize(self.size, RESAMPLE)

    def overlay(self, generated: Image.Image, number: int) -> Image.Image:
        """Paste the original back outside the mask so those pixels stay exactly as they were."""
        if self.masks is None:
            return generated
        index = number % len(self.sources)
        return composite(self.sources[index], generated, self.masks[index], self.region)


def prepare_img2img(params: Img2ImgParams, model: LoadedModel) -> Img2ImgPlan:
    width, height = params.width, params.height
    count = params.batch_size
    originals = [params.init_images[i % len(params.init_images)] for i in range(count)]
    mode = params.resize_mode
    sources = [resize_image(mode, im, width, height) for im in originals]
    plan = Img2ImgPlan(params, model, (width, height), sources, torch.empty(0))
    if params.mask is not None:
        mask = resize_mask(mode, params.mask, width, height)
        mask = prepare_mask(mask, (width, height), bool(params.inpainting_mask_invert),
                            params.mask_blur_x, params.mask_blur_y)
        plan.masks = [mask] * count
        if params.inpaint_full_res:
            plan.region = masked_region(mask, params.inpaint_full_res_padding, (width, height))
        latent_size = (height // model.latent_downscale, width // model.latent_downscale)
        plan.latent_mask = torch.stack([
            torch.from_numpy(np.asarray(m.resize(latent_size[::-1], RESAMPLE), dtype=np.float32) / 255)
            for m in plan._working_masks()])[:, None].round()
    working_sources = plan._working_sources()
    if params.mask is not None and params.inpainting_fill == 0:
        working_sources = [fill_masked_area(src, m) for src, m in zip(working_sources, plan._working_masks())]
    pixels = latent_ops.images_to_tensor(working_sources)
    if mode == 3:  # latent upscale: encode at the input's size, resize the latent
        pixels = latent_ops.images_to_tensor([im.convert("RGB") for im in originals])
        latent = latent_ops.encode(model.vae, pixels)
        down = model.latent_downscale
        plan.init_latent = F.interpolate(latent, size=(height // down, width // down), mode="bilinear")
    else:
        plan.init_latent = latent_ops.encode(model.vae, pixels)
    return plan
