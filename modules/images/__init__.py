"""Images: infotext build/parse, image metadata, saving with A1111 file names, grids.

Depends only on the stdlib, Pillow and piexif.
"""

from modules.fileio import write_atomically, write_text_atomically
from modules.images.filenames import (
    FilenameData,
    FilenamePattern,
    NamingRules,
    get_next_sequence_number,
    sanitize_filename_part,
)
from modules.images.grid import GridAnnotation, draw_grid_annotations, draw_prompt_matrix, grid_rows, image_grid
from modules.images.infotext import build_infotext, quote, unquote, validate_infotext_key
from modules.images.infotext_fields import standard_fields
from modules.images.infotext_parse import parse_infotext
from modules.images.metadata import read_infotext
from modules.images.output_dirs import OutputDirOptions, OutputKind, output_directory, output_root
from modules.images.saving import SavedImage, SaveOptions, encode_image, save_image
from modules.images.tiles import Grid, combine_grid, split_grid

__all__ = [
    "FilenameData",
    "FilenamePattern",
    "Grid",
    "GridAnnotation",
    "NamingRules",
    "OutputDirOptions",
    "OutputKind",
    "SaveOptions",
    "SavedImage",
    "build_infotext",
    "combine_grid",
    "draw_grid_annotations",
    "draw_prompt_matrix",
    "encode_image",
    "get_next_sequence_number",
    "grid_rows",
    "image_grid",
    "output_directory",
    "output_root",
    "parse_infotext",
    "quote",
    "read_infotext",
    "sanitize_filename_part",
    "save_image",
    "split_grid",
    "standard_fields",
    "unquote",
    "validate_infotext_key",
    "write_atomically",
    "write_text_atomically",
]
