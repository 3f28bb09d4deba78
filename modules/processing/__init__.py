"""The generation engine every face calls: parameters in, images and infotext out."""

from modules.processing.params import GenerationParams, Img2ImgParams, ParamsError, Txt2ImgParams, UnknownNameError
from modules.processing.pipeline import GenerationResult, effective_settings, generate
from modules.processing.progress import NullProgress, ProgressSink

__all__ = ["GenerationParams", "GenerationResult", "Img2ImgParams", "NullProgress", "ParamsError", "ProgressSink",
           "Txt2ImgParams", "UnknownNameError", "effective_settings", "generate"]
