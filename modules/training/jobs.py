"""Training as a queue job of kind "train": it runs on the generation worker, so it never runs
beside a generation; generation requests queue behind it."""

from __future__ import annotations

from typing import Any

from modules import networks
from modules.training.params import TrainParams
from modules.training.trainer import train_embedding

TRAIN_JOB_KIND = "train"


class TrainingRunner:
    """The queue runner for "train" jobs: params are TrainParams as JSON."""

    def __init__(self, state: Any):  # EngineState; typed loosely to avoid an import cycle
        self.state = state

    def __call__(self, params: dict[str, Any], ctx: Any) -> dict[str, Any]:
        p = TrainParams.from_dict(params)
        model = self.state.models.current(timeout=600)
        loras = self.state.extra_networks.loras
        if loras is not None:  # a previous job may have left LoRA weights patched in
            networks.remove_networks(model, loras)
        result = train_embedding(p, model, ctx, embeddings=self.state.extra_networks.embeddings,
                                 data_dir=self.state.paths.data_dir, settings=self.state.options.as_dict())
        return result.to_json()
