"""Load one single-file checkpoint into ready-to-run modules."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from modules.devices import DevicePolicy, apply_memory_mode
from modules.paths import CONFIGS_DIR
from modules.sd_models import components
from modules.sd_models.architecture import ModelArchitecture, detect_architecture, needs_behavioural_v_check
from modules.sd_models.checkpoints import CheckpointInfo
from modules.sd_models.safe_load import CheckpointLoadError, load_state_dict

log = logging.getLogger(__name__)
TOKENIZER_DIR = CONFIGS_DIR / "clip_tokenizer"
DEFAULT_SCALING = {"sd1": 0.18215, "sd2": 0.18215, "sdxl": 0.13025, "sdxl_refiner": 0.13025}


@dataclass
class LoadedModel:
    info: CheckpointInfo
    arch: ModelArchitecture
    unet: torch.nn.Module
    vae: torch.nn.Module
    text_encoders: list[torch.nn.Module]
    tokenizers: list[Any]
    alphas_cumprod: torch.Tensor
    policy: DevicePolicy
    vae_source: str = "built-in"  # or the path of an external VAE file
    load_seconds: float = 0.0
    metadata: dict[str, str] = field(default_factory=dict)
    flow_shift: float | None = None  # SD3 (rectified flow): sigma shift of its noise schedule; `unet` is the MMDiT

    @property
    def latent_downscale(self) -> int:
        """Pixels per latent cell: 8 for real SD models, less for tiny ones (demo, tests)."""
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def scaling_factor(self) -> float:
        return float(self.vae.config.scaling_factor)

    def modules(self) -> dict[str, torch.nn.Module]:
        named = {"unet": self.unet, "vae": self.vae}
        named.update({f"text_encoder_{i}": te for i, te in enumerate(self.text_encoders)})
        return named

    def size_bytes(self) -> int:
        return sum(p.numel() * p.element_size() for m in self.modules().values() for p in m.parameters())


def read_yaml_config(path: Path | None) -> dict | None:
    if path is None:
        return None
    import yaml

    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise CheckpointLoadError(f"{path.name}: unreadable config beside the checkpoint ({e})") from e
    if not isinstance(config, dict) or "model" not in config:
        raise CheckpointLoadError(f"{path.name}: not an LDM model config (no 'model' section)")
    return config


def alphas_cumprod_for(yaml_config: dict | None) -> torch.Tensor:
    """SD's scaled-linear DDPM schedule, with the yaml's start/end/steps when given."""
    params = (yaml_config or {}).get("model", {}).get("params", {})
    start, end = params.get("linear_start", 0.00085), params.get("linear_end", 0.012)
    steps = params.get("timesteps", 1000)
    betas = torch.linspace(start**0.5, end**0.5, steps, dtype=torch.float64) ** 2
    return torch.cumprod(1.0 - betas, dim=0).to(torch.float32)


def load_tokenizers(arch: ModelArchitecture) -> list[Any]:
    from transformers import CLIPTokenizer

    def tokenizer(pad_token: str) -> CLIPTokenizer:
        return CLIPTokenizer(str(TOKENIZER_DIR / "vocab.json"), str(TOKENIZER_DIR / "merges.txt"),
                             pad_token=pad_token)

    # OpenAI CLIP pads with the end token; OpenCLIP (SD2, SDXL's second encoder) with id 0 ("!").
    return {
        "sd1": lambda: [tokenizer("<|endoftext|>")],
        "sd2": lambda: [tokenizer("!")],
        "sdxl": lambda: [tokenizer("<|endoftext|>"), tokenizer("!")],
        "sdxl_refiner": lambda: [tokenizer("!")],
        "sd3": lambda: [tokenizer("<|endoftext|>"), tokenizer("!")],  # CLIP-L, CLIP-G (T5's is added by sd3_loader)
    }[arch.family]()


def uses_v_prediction(unet: torch.nn.Module) -> bool:
    """A1111's test for unmarked SD2 files: a v-model's output at t=999 sits far below its input."""
    config = unet.config
    x = torch.full((1, config.in_channels, 8, 8), 0.5, dtype=unet.dtype, device=unet.device)
    context = torch.full((1, 2, config.cross_attention_dim), 0.5, dtype=unet.dtype, device=unet.device)
    with torch.no_grad():
        out = unet(x, torch.tensor([999], device=unet.device), encoder_hidden_states=context).sample
    return (out[:, :4] - x[:, :4]).mean().item() < -1


def load_model(info: CheckpointInfo, policy: DevicePolicy, allow_unsafe: bool = False) -> LoadedModel:
    """Read, detect, build and place a checkpoint; raises CheckpointLoadError with a clear message."""
    started = time.perf_counter()
    yaml_config = read_yaml_config(info.config_path)
    state, metadata = load_state_dict(info.path, allow_unsafe=allow_unsafe)
    shapes = {k: tuple(v.shape) for k, v in state.items()}
    arch = detect_architecture(shapes, metadata, yaml_config, filename=info.path.name)
    if arch.is_sd3:
        return _load_sd3(info, policy, state, metadata, arch, started, allow_unsafe)
    try:
        if yaml_config is not None:
            unet_config = components.unet_config_from_yaml(yaml_config, shapes, arch)
            vae_config = components.vae_config_from_yaml(yaml_config, shapes)
            if scale := yaml_config["model"].get("params", {}).get("scale_factor"):
                vae_config["scaling_factor"] = float(scale)
        else:
            unet_config = components.unet_config(shapes, arch)
            vae_config = components.vae_config(shapes, arch.family)
            vae_config.setdefault("scaling_factor", DEFAULT_SCALING[arch.family])
        unet = components.build_unet(state, unet_config)
        vae = components.build_vae(state, vae_config)
        text_encoders = components.build_text_encoders(state, arch)
    except (KeyError, ValueError, RuntimeError, IndexError, AttributeError, TypeError) as e:
        raise CheckpointLoadError(f"{info.path.name}: weights do not form a complete {arch.label} model ({e})") from e
    del state
    if needs_behavioural_v_check(arch, shapes, metadata, yaml_config is not None) and uses_v_prediction(unet):
        arch = ModelArchitecture(arch.family, arch.variant, "v_prediction")

    for module, dtype in ((unet, policy.unet_dtype), (vae, policy.vae_dtype),
                          *((te, policy.text_encoder_dtype) for te in text_encoders)):
        if module.dtype != dtype:
            module.to(dtype)
    model = LoadedModel(
        info=info, arch=arch, unet=unet, vae=vae, text_encoders=text_encoders, tokenizers=load_tokenizers(arch),
        alphas_cumprod=alphas_cumprod_for(yaml_config), policy=policy, metadata=metadata,
    )
    apply_memory_mode(model.modules(), policy, arch.is_sdxl)
    model.load_seconds = time.perf_counter() - started
    log.info("Loaded %s (%s) in %.1fs", info.title, arch.label, model.load_seconds)
    return model


def _load_sd3(info: CheckpointInfo, policy: DevicePolicy, state: dict, metadata: dict, arch: ModelArchitecture,
              started: float, allow_unsafe: bool) -> LoadedModel:
    from modules.sampling.flow import SD3_DEFAULT_SHIFT, flow_sigmas
    from modules.sd_models import sd3_loader

    sd3_loader.add_separate_text_encoders(state, info.path, policy.load_t5, allow_unsafe)
    try:
        built = sd3_loader.build_sd3(state, arch, info.path, policy.load_t5)
    except (KeyError, ValueError, RuntimeError, IndexError, AttributeError, TypeError) as e:
        raise CheckpointLoadError(f"{info.path.name}: weights do not form a complete {arch.label} model ({e})") from e
    del state
    for module, dtype in ((built["unet"], policy.unet_dtype), (built["vae"], policy.vae_dtype),
                          *((te, policy.text_encoder_dtype) for te in built["text_encoders"])):
        if module.dtype != dtype:
            module.to(dtype)
    model = LoadedModel(info=info, arch=arch, policy=policy, metadata=metadata, flow_shift=SD3_DEFAULT_SHIFT,
                        alphas_cumprod=flow_sigmas(SD3_DEFAULT_SHIFT).alphas_cumprod().float(), **built)
    apply_memory_mode(model.modules(), policy, is_sdxl=True)  # --medvram-sdxl covers these large models too
    model.load_seconds = time.perf_counter() - started
    log.info("Loaded %s (%s) in %.1fs", info.title, arch.label, model.load_seconds)
    return model
