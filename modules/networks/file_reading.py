"""Hashes of network files (embeddings, LoRAs) as A1111 shows them. Reading the files goes
through `modules.sd_models.safe_load` (safetensors, or weights-only unpickling)."""

from modules.sd_models.checkpoints import sha256_of_file

SHORT_HASH_LENGTH = 12  # A1111's shorthash for embeddings and LoRAs

__all__ = ["SHORT_HASH_LENGTH", "sha256_of_file"]
