"""The app's few singletons, made in one place: settings, device policy, model manager."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from modules.devices import DevicePolicy, decide_policy
from modules.options import Options, OptionsRegistry
from modules.paths import DataPaths
from modules.sd_models.manager import ModelManager


@dataclass
class EngineState:
    args: argparse.Namespace
    paths: DataPaths
    options: Options
    policy: DevicePolicy
    models: ModelManager

    @classmethod
    def create(cls, args: argparse.Namespace) -> "EngineState":
        paths = DataPaths.from_args(args)
        paths.create_dirs()
        options = Options(OptionsRegistry.builtin(), paths.config_file, frozen=args.freeze_settings)
        policy = decide_policy(args)
        models = ModelManager(paths, options, policy, allow_unsafe=args.disable_safe_unpickle)
        return cls(args, paths, options, policy, models)
