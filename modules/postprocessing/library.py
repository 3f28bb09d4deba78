"""The postprocessing models of one data dir: model upscalers and face restorers.

Made once by EngineState; `refresh()` re-scans the folders (cheap: each file is detected
once) and is called when the app starts and whenever a list is asked for (the API's
/upscalers, /face-restorers, the Extras tab), so files dropped in later show up.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from modules.postprocessing.face_restoration import FaceRestorers, SpandrelFaceRestorer
from modules.postprocessing.model_upscalers import ModelUpscalers, UpscalerEntry
from modules.postprocessing.spandrel_models import ModelFileScanner

log = logging.getLogger(__name__)


class PostprocessingModels:
    def __init__(self, paths: Any, options: Any, policy: Any, allow_unsafe: bool = False):
        scanner = ModelFileScanner(allow_unsafe)
        self.upscalers = ModelUpscalers(paths.models_dir, options, policy.device_for("esrgan"), policy.unet_dtype,
                                        scanner)
        self.face_restorers = FaceRestorers(paths.models_dir, policy.device_for, scanner, allow_unsafe)
        self._lock = threading.Lock()

    def refresh(self) -> "PostprocessingModels":
        with self._lock:
            self.upscalers.refresh()
            self.face_restorers.refresh()
        return self

    def upscaler_entries(self) -> list[UpscalerEntry]:
        return list(self.refresh().upscalers.entries.values())

    def restorer_list(self) -> list[SpandrelFaceRestorer]:
        return list(self.refresh().face_restorers.restorers.values())

    def close(self) -> None:
        """Take this data dir's models out of the registries (tests make several apps)."""
        self.upscalers.unregister_all()
        self.face_restorers.unregister_all()
