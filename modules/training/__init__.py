"""Textual-inversion training (A1111's Train tab): create an embedding, train its vectors.

Imports processing (prompt encoder, VAE helpers, txt2img for previews) and networks (the
embedding files). Training runs as a queue job (`jobs.TrainingRunner`, kind "train").
"""
from .dataset import BUNDLED_TEMPLATES_DIR, list_templates, prompt_text
from .embedding_files import create_embedding, save_embedding, validate_embedding_name, vectors_checksum
from .inputs import TrainingInputs, resolve_inputs, template_dirs, trainable_embedding
from .jobs import TRAIN_JOB_KIND, TrainingRunner
from .learn_schedule import LearnRateSchedule, SchedulePhase, parse_schedule
from .params import TrainParams
from .trainer import StepRecord, TrainingResult, embedding_loss, embedding_prompt_encoder, train_embedding

__all__ = [
    "BUNDLED_TEMPLATES_DIR",
    "LearnRateSchedule",
    "SchedulePhase",
    "StepRecord",
    "TRAIN_JOB_KIND",
    "TrainParams",
    "TrainingInputs",
    "TrainingResult",
    "TrainingRunner",
    "create_embedding",
    "embedding_loss",
    "embedding_prompt_encoder",
    "list_templates",
    "parse_schedule",
    "prompt_text",
    "resolve_inputs",
    "save_embedding",
    "template_dirs",
    "train_embedding",
    "trainable_embedding",
    "validate_embedding_name",
    "vectors_checksum",
]
