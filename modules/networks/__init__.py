"""Extra networks: textual-inversion embeddings and LoRA-family weight patches.

Imports sd_models (safe loading, key layouts) and prompting (the embedding lookup protocol).
"""
from .embedding_formats import EmbeddingData, EmbeddingFormatError, encode_png_embedding, read_embedding_file
from .embedding_lookup import TokenPrefixLookup
from .embeddings import Embedding, EmbeddingDatabase, EmbeddingSet, SkippedEmbedding
from .lora_files import LoraDescription, LoraFile, LoraLibrary, parse_lora_state, read_lora_file
from .lora_patching import ApplyReport, WeightPatcher, apply_networks, remove_networks
from .pasted_infotext import relink_pasted_loras
from .prompt_tags import NetworkUse, extract_networks, extract_networks_from_prompts
from .user_metadata import UserMetadata, read_user_metadata

__all__ = [
    "ApplyReport",
    "Embedding",
    "EmbeddingData",
    "EmbeddingDatabase",
    "EmbeddingFormatError",
    "EmbeddingSet",
    "LoraDescription",
    "LoraFile",
    "LoraLibrary",
    "NetworkUse",
    "SkippedEmbedding",
    "TokenPrefixLookup",
    "UserMetadata",
    "WeightPatcher",
    "apply_networks",
    "encode_png_embedding",
    "extract_networks",
    "extract_networks_from_prompts",
    "parse_lora_state",
    "read_embedding_file",
    "read_lora_file",
    "read_user_metadata",
    "relink_pasted_loras",
    "remove_networks",
]
