"""Random-weight upscaler / face-restoration model files for tests, built with spandrel's
own architecture classes and saved as a user would have them (.pth or .safetensors)."""

from __future__ import annotations

from pathlib import Path

import torch


def save_state_dict(state_dict: dict[str, torch.Tensor], path: Path, half: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: (v.half() if half and v.is_floating_point() else v).contiguous() for k, v in state_dict.items()}
    if path.suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(tensors, str(path))
    else:
        torch.save(tensors, path)
    return path


def seeded(seed: int):
    torch.manual_seed(seed)


def rrdbnet(scale: int = 4, seed: int = 0) -> torch.nn.Module:
    """A small ESRGAN (RRDBNet): 8 filters, 1 block."""
    from spandrel.architectures.ESRGAN import ESRGAN

    seeded(seed)
    return ESRGAN(in_nc=3, out_nc=3, num_filters=8, num_blocks=1, scale=scale).eval()


def compact(scale: int = 2, seed: int = 0) -> torch.nn.Module:
    """Real-ESRGAN's SRVGGNetCompact with 2 convs: receptive field of a few pixels."""
    from spandrel.architectures.Compact import Compact

    seeded(seed)
    return Compact(num_in_ch=3, num_out_ch=3, num_feat=8, num_conv=2, upscale=scale).eval()


def swinir(scale: int = 2, seed: int = 0) -> torch.nn.Module:
    from spandrel.architectures.SwinIR import SwinIR

    seeded(seed)
    return SwinIR(img_size=16, embed_dim=12, depths=[1], num_heads=[2], window_size=4, upscale=scale,
                  upsampler="pixelshuffle", mlp_ratio=2).eval()


def restoreformer(seed: int = 0) -> torch.nn.Module:
    """A narrow RestoreFormer (32 channels): a real face restorer that runs in about a second."""
    from spandrel.architectures.RestoreFormer import RestoreFormer

    seeded(seed)
    return RestoreFormer(n_embed=32, embed_dim=32, ch=32, ch_mult=(1, 1, 1, 1, 1, 1), num_res_blocks=1,
                         z_channels=32, head_size=8).eval()


def gfpgan(seed: int = 0) -> torch.nn.Module:
    """GFPGANv1Clean at its only size spandrel loads (512, 86M parameters)."""
    from spandrel.architectures.GFPGAN import GFPGAN

    seeded(seed)
    return GFPGAN(out_size=512, num_style_feat=512, channel_multiplier=2, decoder_load_path=None, fix_decoder=False,
                  num_mlp=8, input_is_latent=True, different_w=True, narrow=1, sft_half=True).eval()


def facexlib_weights(folder: Path, seed: int = 0) -> Path:
    """Random RetinaFace (ResNet-50) and ParseNet weights under facexlib's file names."""
    from facexlib.detection.retinaface import RetinaFace
    from facexlib.parsing.parsenet import ParseNet

    from modules.postprocessing.face_restoration import DETECTION_FILE, PARSING_FILE

    seeded(seed)
    save_state_dict(RetinaFace(network_name="resnet50", half=False, device="cpu").state_dict(),
                    folder / DETECTION_FILE, half=True)
    save_state_dict(ParseNet(in_size=512, out_size=512, parsing_ch=19).state_dict(), folder / PARSING_FILE, half=True)
    return folder


class CodeInPickle:
    """Unpickling this runs os.system: a model file that would run code must be refused."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        import os

        return os.system, (f"touch {self.marker}",)


def evil_pth(path: Path, marker: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"params": CodeInPickle(marker)}, path)
    return path
