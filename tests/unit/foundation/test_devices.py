import logging

import pytest
import torch

from modules import devices
from modules.cmd_args import parse_args


@pytest.fixture
def fake_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)


def policy(*flags):
    return devices.decide_policy(parse_args(list(flags)))


def test_cpu_always_runs_fp32(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    p = policy("--precision", "half")
    assert p.device.type in ("cpu", "mps") and (p.device.type != "cpu" or p.unet_dtype == torch.float32)


@pytest.mark.parametrize("flags, unet, vae", [
    ([], torch.float16, torch.float16),
    (["--no-half"], torch.float32, torch.float32),
    (["--precision", "full"], torch.float32, torch.float32),
    (["--no-half-vae"], torch.float16, torch.float32),
    (["--precision", "bf16"], torch.bfloat16, torch.bfloat16),
])
def test_gpu_precision_flags(fake_cuda, flags, unet, vae):
    p = policy(*flags)
    assert p.device == torch.device("cuda", 0)
    assert (p.unet_dtype, p.vae_dtype) == (unet, vae)


def test_use_cpu_and_device_id(fake_cuda):
    assert policy("--use-cpu", "all").device.type == "cpu"
    assert policy("--device-id", "1").device == torch.device("cuda", 1)
    p = policy("--use-cpu", "esrgan")
    assert p.device_for("esrgan").type == "cpu" and p.device_for("sd").type == "cuda"


def test_upcast_sampling_and_memory_modes(fake_cuda):
    assert policy("--upcast-sampling").sampling_dtype == torch.float32
    assert policy().sampling_dtype == torch.float16
    assert policy("--medvram").memory_mode_for(is_sdxl=False) == "medvram"
    sdxl_only = policy("--medvram-sdxl")
    assert sdxl_only.memory_mode_for(is_sdxl=True) == "medvram"
    assert sdxl_only.memory_mode_for(is_sdxl=False) == "normal"
    assert policy("--lowvram").memory_mode == "lowvram"


def test_memory_modes_are_a_logged_no_op_on_cpu(caplog):
    p = devices.DevicePolicy(torch.device("cpu"), torch.float32, torch.float32, torch.float32, memory_mode="lowvram")
    layer = torch.nn.Linear(2, 2)
    with caplog.at_level(logging.INFO):
        devices.apply_memory_mode({"unet": layer}, p, is_sdxl=False)
    assert "--lowvram has no effect when running on the CPU" in caplog.text
    assert layer.weight.device.type == "cpu" and not hasattr(layer, "_hf_hook")


def test_memory_stats_shape():
    stats = devices.memory_stats()
    assert {"free", "used", "total"} <= set(stats["ram"])
