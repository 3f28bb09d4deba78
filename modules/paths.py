"""Where user data lives: A1111's layout under the data dir (default: the repo root)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from modules.cmd_args import REPO_ROOT

DEMO_MODEL_DIR = REPO_ROOT / "assets" / "shapes-demo"
CONFIGS_DIR = REPO_ROOT / "configs"
UPSCALER_DIR_NAMES = ("ESRGAN", "RealESRGAN", "SwinIR", "DAT", "HAT", "ScuNET")


@dataclass(frozen=True)
class DataPaths:
    data_dir: Path
    models_dir: Path
    sd_models_dir: Path
    extra_ckpt_dir: Path | None
    vae_dir: Path
    lora_dir: Path
    esrgan_dir: Path
    gfpgan_dir: Path
    codeformer_dir: Path
    embeddings_dir: Path
    extensions_dir: Path
    outputs_dir: Path
    config_file: Path
    ui_config_file: Path
    styles_file: Path
    cache_file: Path
    demo_model_dir: Path | None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "DataPaths":
        data = Path(args.data_dir).resolve()
        models = Path(args.models_dir).resolve() if args.models_dir else data / "models"
        return cls(
            data_dir=data,
            models_dir=models,
            sd_models_dir=models / "Stable-diffusion",
            extra_ckpt_dir=Path(args.ckpt_dir).resolve() if args.ckpt_dir else None,
            vae_dir=Path(args.vae_dir).resolve() if args.vae_dir else models / "VAE",
            lora_dir=Path(args.lora_dir).resolve() if args.lora_dir else models / "Lora",
            esrgan_dir=models / "ESRGAN",
            gfpgan_dir=models / "GFPGAN",
            codeformer_dir=models / "Codeformer",
            embeddings_dir=Path(args.embeddings_dir).resolve() if args.embeddings_dir else data / "embeddings",
            extensions_dir=data / "extensions",
            outputs_dir=data / "outputs",
            config_file=Path(args.ui_settings_file) if args.ui_settings_file else data / "config.json",
            ui_config_file=data / "ui-config.json",
            styles_file=Path(args.styles_file) if args.styles_file else data / "styles.csv",
            cache_file=data / "cache.json",
            demo_model_dir=None if args.no_demo_model else DEMO_MODEL_DIR,
        )

    @property
    def upscaler_dirs(self) -> list[Path]:
        """A1111's folders for model upscalers (any architecture spandrel detects)."""
        return [self.models_dir / name for name in UPSCALER_DIR_NAMES]

    @property
    def face_restoration_dirs(self) -> list[Path]:
        """GFPGAN, CodeFormer and RestoreFormer models, and facexlib's detection weights."""
        return [self.gfpgan_dir, self.codeformer_dir, self.models_dir / "RestoreFormer", self.models_dir / "facexlib"]

    def create_dirs(self) -> None:
        """Make the folders users drop files into, so they can find them."""
        for folder in (self.sd_models_dir, self.vae_dir, self.lora_dir, *self.upscaler_dirs,
                       *self.face_restoration_dirs, self.embeddings_dir, self.extensions_dir, self.outputs_dir):
            folder.mkdir(parents=True, exist_ok=True)

    def resolve(self, path: str) -> Path:
        """A path from settings: relative ones are under the data dir (A1111 semantics)."""
        candidate = Path(path)
        return candidate if candidate.is_absolute() else self.data_dir / candidate
