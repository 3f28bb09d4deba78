"""The generation engine every face calls: parameters in, images and infotext out."""

from modules.processing.params import GenerationParams, Img2ImgParams, ParamsError, Txt2ImgParams, UnknownNameError
from modules.processing.pipeline import GenerationResult, check_sampler_fits, effective_settings, generate
from modules.processing.progress import NullProgress, ProgressSink

__all__ = ["GenerationParams", "GenerationResult", "Img2ImgParams", "NullProgress", "ParamsError", "ProgressSink",
           "Txt2ImgParams", "UnknownNameError", "check_sampler_fits", "effective_settings", "generate"]

# A1111's names for scripts and extensions (`from modules.processing import process_images`),
# served lazily from the facade so the engine never imports it.
A1111_NAMES = ("StableDiffusionProcessing", "StableDiffusionProcessingTxt2Img", "StableDiffusionProcessingImg2Img",
               "Processed", "process_images", "fix_seed", "get_fixed_seed")


def __getattr__(name: str):
    if name in A1111_NAMES:
        from modules import a1111_processing

        return getattr(a1111_processing, name)
    raise AttributeError(f"module 'modules.processing' has no attribute {name!r}")
