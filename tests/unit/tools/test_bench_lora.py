"""The LoRA benchmark's core on a tiny random SD1 model: JSON figures, reuse, exact restore."""

from __future__ import annotations

import json

import pytest

from tools import bench_lora

FIGURES = {"lora", "lora_file_mb", "lora_modules", "patched_parameters", "first_apply_s", "apply_s", "remove_s",
           "reused_apply_s", "repeats", "restored_exactly"}


def test_measure_times_apply_remove_and_reuse_and_leaves_the_model_unpatched(tiny_models, tmp_path):
    model = tiny_models("sd1")
    path = tmp_path / "attention.safetensors"
    modules = bench_lora.write_attention_lora(model, path, rank=4)
    attention_layers = sum(1 for name, _ in model.unet.named_modules() if bench_lora.ATTENTION_PROJECTION.search(name))
    assert modules == attention_layers > 0
    before = bench_lora.weights_digest(model)
    figures = bench_lora.measure(model, path, repeats=2)
    assert json.loads(json.dumps(figures)) == figures and set(figures) == FIGURES
    assert figures["lora_modules"] == figures["patched_parameters"] == modules
    assert figures["repeats"] == 2 and figures["restored_exactly"] is True
    assert figures["apply_s"] > 0 and figures["remove_s"] > 0 and figures["first_apply_s"] > 0
    assert figures["reused_apply_s"] < figures["first_apply_s"]  # the same set is not patched again
    assert bench_lora.weights_digest(model) == before


def test_a_lora_that_does_not_apply_is_an_error(tiny_models, tmp_path):
    import safetensors.torch
    import torch

    path = tmp_path / "elsewhere.safetensors"
    safetensors.torch.save_file({"lora_unet_nowhere.diff": torch.ones(2, 2)}, str(path))
    with pytest.raises(RuntimeError, match="elsewhere.safetensors did not apply cleanly"):
        bench_lora.measure(tiny_models("sd1"), path)
    with pytest.raises(ValueError, match="repeats: must be at least 1"):
        bench_lora.measure(tiny_models("sd1"), path, repeats=0)


@pytest.mark.parametrize("argv", [["--cases", "demo,sdxl"], ["--cases", ""], ["--repeats", "0"]])
def test_bad_options_are_refused(argv):
    with pytest.raises(SystemExit):
        bench_lora.parse_args(argv)


def test_default_options_run_both_cases():
    args = bench_lora.parse_args([])
    assert args.cases == ["demo", "sd15"] and args.repeats == 3
