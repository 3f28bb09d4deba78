"""The app's few singletons, made in one place: settings, device policy, model manager."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

from modules.devices import DevicePolicy, decide_policy
from modules.jobs import JobQueue
from modules.networks import EmbeddingDatabase, LoraLibrary
from modules.options import Options, OptionsRegistry
from modules.paths import DataPaths
from modules.postprocessing.library import PostprocessingModels
from modules.processing.extra_networks import ExtraNetworks
from modules.prompting import StyleDatabase
from modules.sd_models.manager import ModelManager


@dataclass
class EngineState:
    args: argparse.Namespace
    paths: DataPaths
    options: Options
    policy: DevicePolicy
    models: ModelManager
    styles: StyleDatabase
    extra_networks: ExtraNetworks
    jobs: JobQueue | None = None
    # model upscalers and face restorers found in models/ (registered for hires fix and extras)
    postprocessing: PostprocessingModels | None = None
    # the Script API (modules.scripts.ScriptHost), attached by webui.create_app; the job runner
    # reaches scripts only through it, so the engine never imports the facade
    scripts: Any = None

    def start_jobs(self) -> JobQueue:
        """The generation queue (SQLite in the data dir); pending jobs from before resume."""
        from modules.generation_jobs import ExtrasRunner, GenerationRunner
        from modules.jobs import JOBS_DB_NAME, JobQueue, JobStore
        from modules.training.jobs import TrainingRunner

        runner = GenerationRunner(self)
        self.jobs = JobQueue(JobStore(self.paths.data_dir / JOBS_DB_NAME),
                             {"txt2img": runner, "img2img": runner, "extras": ExtrasRunner(self),
                              "train": TrainingRunner(self)}).start()
        return self.jobs

    @classmethod
    def create(cls, args: argparse.Namespace) -> "EngineState":
        paths = DataPaths.from_args(args)
        paths.create_dirs()
        options = Options(OptionsRegistry.builtin(), paths.config_file, frozen=args.freeze_settings)
        policy = decide_policy(args)
        models = ModelManager(paths, options, policy, allow_unsafe=args.disable_safe_unpickle)
        styles = StyleDatabase(paths.styles_file)
        unsafe = args.disable_safe_unpickle
        lora_dirs = [paths.lora_dir] + ([paths.demo_model_dir / "Lora"] if paths.demo_model_dir else [])
        extra_networks = ExtraNetworks(EmbeddingDatabase([paths.embeddings_dir], unsafe),
                                       LoraLibrary(lora_dirs, unsafe))
        postprocessing = PostprocessingModels(paths, options, policy, allow_unsafe=unsafe).refresh()
        return cls(args, paths, options, policy, models, styles, extra_networks, postprocessing=postprocessing)
