"""The engine benchmark end to end on a tiny random SD1 model: JSON shape, timings, parity."""

from __future__ import annotations

import json
import time

import pytest

from tools import bench_engine

SIDE_KEYS = {"median_s", "min_s", "max_s", "spread_pct", "all_s", "cpu_median_s", "it_per_s", "loop_it_per_s",
             "networks_median_s", "outside_networks_median_s"}
TOP_KEYS = {"benchmark", "model", "run", "schedule", "engine", "baseline", "overhead_pct",
            "overhead_pct_paired_median", "overhead_pct_cpu_time", "outside_networks_extra_s", "outside_networks_overhead_pct",
            "overhead_target_pct", "within_target", "image_difference_0_255", "environment"}


def test_prints_one_json_object_with_every_figure(capsys):
    report = bench_engine.main(["--random", "sd1", "--tiny", "--repeats", "1", "--steps", "2", "--threads", "1"])
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(json.dumps(report))
    assert TOP_KEYS <= set(report)
    for side in ("engine", "baseline"):
        figures = report[side]
        assert SIDE_KEYS <= set(figures)
        assert figures["median_s"] > 0 and figures["cpu_median_s"] > 0 and figures["it_per_s"] > 0 and figures["loop_it_per_s"] > 0
        assert len(figures["all_s"]) == 1
        assert figures["networks_median_s"]["unet"] > 0
        assert figures["networks_median_s"]["text_encoders"] > 0
        assert figures["networks_median_s"]["vae_decoder"] > 0
    assert report["run"]["steps"] == 2 and report["run"]["width"] == 64
    assert report["environment"]["threads"] == 1 and report["environment"]["device"] == "cpu"
    expected = 100 * (report["engine"]["median_s"] / report["baseline"]["median_s"] - 1)
    assert report["overhead_pct"] == pytest.approx(expected, abs=1.0)  # the medians shown are rounded to 0.1 ms


def test_runs_fast_and_engine_matches_diffusers_pixels():
    started = time.perf_counter()
    report = bench_engine.run_benchmark(bench_engine.parse_args(
        ["--random", "sd1", "--tiny", "--repeats", "1", "--steps", "2", "--warmup", "0", "--threads", "1"]))
    assert time.perf_counter() - started < 30
    # same modules, noise and timesteps: the two sides must draw (nearly) the same picture
    assert report["schedule"]["max_timestep_difference"] == 0
    assert report["image_difference_0_255"]["mean_abs"] < 0.5
    assert report["image_difference_0_255"]["max_abs"] <= 2


@pytest.mark.parametrize("argv, field", [
    (["--steps", "1"], "steps"),
    (["--repeats", "0"], "repeats"),
    (["--width", "100"], "width"),
    (["--tiny"], "tiny"),
    (["--precision", "fp16", "--device", "cpu"], "precision"),
    (["--model", "/nonexistent/model.safetensors"], "model"),
])
def test_bad_options_name_the_field(argv, field):
    with pytest.raises(ValueError, match=f"^{field}:"):
        bench_engine.parse_args(argv).validate()


def test_model_and_random_exclude_each_other():
    with pytest.raises(SystemExit):
        bench_engine.parse_args(["--model", "x.safetensors", "--random", "sd1"])
