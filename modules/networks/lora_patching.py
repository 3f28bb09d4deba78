"""Apply LoRA-family networks to a loaded model by patching its weights, and undo it exactly.

Every touched parameter is backed up (on the CPU) before its first change; removal copies the
backup back, so weights are bit-identical afterwards. The patcher remembers which set of
networks (files, file versions, multipliers) is applied: asking for the same set again does
nothing, so a run of jobs with the same LoRAs pays for them once. Updates are computed in fp32
from the original weights and summed over networks, then cast once to the weight's dtype.
"""

from __future__ import annotations

import contextlib
import weakref
from dataclasses import dataclass, field, replace
from typing import Any, Iterator, Sequence

import torch

from modules.networks.lora_files import LoraFile, LoraLibrary
from modules.networks.lora_keys import TargetModule, module_aliases, normalize_module_name
from modules.networks.lora_types import NetworkModule, with_dyn_dim
from modules.networks.prompt_tags import NetworkUse
from modules.sd_models.safe_load import CheckpointLoadError

EXAMPLES = 3  # module names quoted in a warning


@dataclass(frozen=True, eq=False)
class ResolvedNetwork:
    """A prompt's network use bound to its parsed file."""

    name: str
    file: LoraFile
    stamp: tuple[int, int]  # (mtime_ns, size) of the file: a changed file is applied anew
    te_multiplier: float
    unet_multiplier: float
    dyn_dim: int | None = None

    @property
    def signature(self) -> tuple:
        return str(self.file.path), self.stamp, self.te_multiplier, self.unet_multiplier, self.dyn_dim


@dataclass
class ApplyReport:
    applied: list[str] = field(default_factory=list)  # network names whose updates are in the weights
    warnings: list[str] = field(default_factory=list)  # each names the file (or prompt name)
    patched_parameters: int = 0
    reused: bool = False  # the same set was already applied: nothing was done
    lora_hashes: str | None = None  # infotext `Lora hashes` value


class WeightPatcher:
    """The networks currently patched into one LoadedModel's UNet and text encoders.

    Holds the model weakly (and only its sub-modules strongly): the library keys patchers by the
    UNet in a WeakKeyDictionary, so an unloaded model is freed together with its patcher."""

    def __init__(self, model: Any):
        self._model = weakref.ref(model)
        self._aliases: dict[str, TargetModule] | None = None
        self._backups: dict[tuple[str, str], tuple[torch.nn.Parameter, torch.Tensor]] = {}
        self._signature: tuple = ()
        self._report = ApplyReport()

    @property
    def model(self) -> Any:
        model = self._model()
        if model is None:
            raise RuntimeError("the model of this LoRA patcher has been unloaded")
        return model

    @property
    def aliases(self) -> dict[str, TargetModule]:
        if self._aliases is None:
            self._aliases = module_aliases(self.model)
        return self._aliases

    @property
    def is_patched(self) -> bool:
        return bool(self._backups)

    def apply(self, networks: Sequence[ResolvedNetwork]) -> ApplyReport:
        signature = tuple(n.signature for n in networks)
        if signature == self._signature:
            return replace(self._report, reused=True, warnings=list(self._report.warnings))
        self.restore()
        report = ApplyReport()
        try:
            plan = self._plan(networks, report)
            for target, items in plan.values():
                report.patched_parameters += self._patch_module(target, items, report)
        except BaseException:
            self.restore()
            raise
        report.applied = [n.name for n in networks]
        self._signature, self._report = signature, report
        return replace(report, warnings=list(report.warnings))

    def restore(self) -> None:
        """Put every patched parameter back exactly as it was."""
        with torch.no_grad():
            for param, backup in self._backups.values():
                param.data.copy_(backup.to(param.device))
        self._backups.clear()
        self._signature, self._report = (), ApplyReport()

    def _plan(self, networks: Sequence[ResolvedNetwork], report: ApplyReport) -> dict[str, tuple]:
        family = self.model.arch.family
        plan: dict[str, tuple[TargetModule, list]] = {}
        for network in networks:
            file, unmatched = network.file, []
            for name, module in file.modules.items():
                target = self.aliases.get(normalize_module_name(name, family))
                if target is None:
                    unmatched.append(name)
                    continue
                multiplier = network.te_multiplier if target.is_text_encoder else network.unet_multiplier
                if multiplier != 0:
                    module = with_dyn_dim(module, network.dyn_dim)
                    plan.setdefault(target.label, (target, []))[1].append((module, multiplier, file, name))
            _warn_about_file(file, unmatched, family, report)
        return plan

    def _patch_module(self, target: TargetModule, items: list[tuple[NetworkModule, float, LoraFile, str]],
                      report: ApplyReport) -> int:
        params = target.module._parameters
        if params["weight"].device.type == "meta":  # accelerate's layer-by-layer offload (--lowvram)
            raise ValueError(f"{target.label}: the weights are offloaded layer by layer (--lowvram); "
                             "LoRA needs them resident to patch them")
        weight, bias = params["weight"].detach().float(), params.get("bias")
        bias = bias.detach().float() if bias is not None else None
        totals: dict[str, torch.Tensor] = {}
        for module, multiplier, file, name in items:
            try:
                deltas = module.deltas(weight, bias)
            except ValueError as e:
                _warn(report, f"{file.path.name}: {name} not applied to {target.label}: {e}")
                continue
            for param_name, delta in deltas.items():
                totals[param_name] = totals.get(param_name, 0) + delta * multiplier
        for param_name, delta in totals.items():
            self._write(target, param_name, delta)
        return len(totals)

    def _write(self, target: TargetModule, param_name: str, delta: torch.Tensor) -> None:
        param = target.module._parameters[param_name]
        key = (target.label, param_name)
        with torch.no_grad():
            if key not in self._backups:
                self._backups[key] = (param, param.detach().to("cpu", copy=True))
            original = self._backups[key][1].to(param.device, torch.float32)
            param.data.copy_((original + delta.to(param.device)).to(param.dtype))


def _warn(report: ApplyReport, message: str) -> None:
    report.warnings.append(message)  # the caller decides where warnings go (log, page), once per job


def _warn_about_file(file: LoraFile, unmatched: list[str], family: str, report: ApplyReport) -> None:
    total = len(file.modules) + len(file.unsupported)
    if unmatched:
        _warn(report, f"{file.path.name}: {len(unmatched)} of {total} modules match nothing in the loaded "
                      f"{family} model (e.g. {', '.join(unmatched[:EXAMPLES])})")
    reasons: dict[str, list[str]] = {}
    for name, reason in file.unsupported.items():
        reasons.setdefault(reason, []).append(name)
    for reason, names in reasons.items():
        _warn(report, f"{file.path.name}: {len(names)} modules not applied: {reason} "
                      f"(e.g. {', '.join(names[:EXAMPLES])})")
    if file.unknown_keys:
        _warn(report, f"{file.path.name}: {len(file.unknown_keys)} keys of unknown meaning ignored "
                      f"(e.g. {', '.join(file.unknown_keys[:EXAMPLES])})")
    if total == 0:
        _warn(report, f"{file.path.name}: no LoRA modules found in the file")


def resolve_networks(uses: Sequence[NetworkUse], library: LoraLibrary, report: ApplyReport) -> list[ResolvedNetwork]:
    """Prompt uses → parsed files; names not found or files that cannot be read become warnings."""
    resolved = []
    for use in uses:
        if not use.is_lora:
            _warn(report, f"extra network type {use.kind!r} is not supported; <{use.kind}:{use.name}> ignored")
            continue
        path = library.find(use.name)
        if path is None:
            _warn(report, f"LoRA {use.name!r} not found in {', '.join(str(f) for f in library.folders)}")
            continue
        try:
            file = library.load(path)
        except CheckpointLoadError as e:
            _warn(report, str(e))
            continue
        resolved.append(ResolvedNetwork(use.name, file, library.stamp(path), use.te_multiplier, use.unet_multiplier,
                                        use.dyn_dim))
    return resolved


def patcher_for(model: Any, library: LoraLibrary) -> WeightPatcher:
    patcher = library.patchers.get(model.unet)
    if patcher is None or patcher._model() is not model:
        if patcher is not None:  # another LoadedModel around the same UNet (e.g. a VAE swap): undo its patches
            patcher.restore()
        patcher = WeightPatcher(model)
        library.patchers[model.unet] = patcher
    return patcher


@contextlib.contextmanager
def apply_networks(model: Any, uses: Sequence[NetworkUse], library: LoraLibrary,
                   keep: bool = True) -> Iterator[ApplyReport]:
    """Patch `uses` into `model` for the body. With keep=True (the default) the weights stay
    patched afterwards, so the next job with the same networks costs nothing; a job with other
    (or no) networks first restores the originals. keep=False restores on exit."""
    report = ApplyReport()
    resolved = resolve_networks(uses, library, report)
    patcher = patcher_for(model, library)
    applied = patcher.apply(resolved)
    applied.warnings = report.warnings + applied.warnings
    applied.lora_hashes = ", ".join(f"{hash_list_name(n.name)}: {library.shorthash(n.file.path)}"
                                    for n in resolved) or None
    try:
        yield applied
    finally:
        if not keep:
            patcher.restore()


def hash_list_name(name: str) -> str:
    """A name as the `Lora hashes` list holds it: without the list's separators (as A1111)."""
    return name.replace(":", "").replace(",", "")


def remove_networks(model: Any, library: LoraLibrary) -> None:
    """Restore `model`'s original weights (e.g. before merging or saving it)."""
    patcher = library.patchers.get(model.unet)
    if patcher is not None:
        patcher.restore()
