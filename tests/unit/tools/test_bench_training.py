"""The training benchmark end to end on a tiny random SD1 model: one JSON object, sane figures."""

from __future__ import annotations

import json

import pytest

from tools import bench_training


def test_prints_steps_per_second_of_a_real_training_run(capsys):
    report = bench_training.main(["--random", "sd1", "--tiny", "--steps", "4", "--warmup", "1", "--batch-size", "2",
                                  "--threads", "1"])
    assert json.loads(capsys.readouterr().out) == json.loads(json.dumps(report))
    assert report["run"] == {"size": 64, "batch_size": 2, "gradient_step": 1, "steps": 4, "warmup_steps": 1,
                             "timed_steps": 3}
    assert 0 < report["seconds_per_step_min"] <= report["seconds_per_step_median"]
    assert report["steps_per_s"] == pytest.approx(1 / report["seconds_per_step_median"], rel=0.02)
    assert report["images_per_s"] == pytest.approx(2 * report["steps_per_s"], rel=0.02)
    assert report["model"]["architecture"] == "SD1.x" and report["environment"]["device"] == "cpu"


@pytest.mark.parametrize("argv, message", [
    (["--random", "sd1", "--steps", "2", "--warmup", "2"], "steps: must exceed warmup"),
    (["--random", "sd1", "--size", "100"], "size: must be a multiple of 8"),
    (["--random", "sd1", "--batch-size", "0"], "batch_size: must be at least 1"),
])
def test_bad_settings_are_refused_naming_them(argv, message):
    with pytest.raises(ValueError, match=message):
        bench_training.parse_args(argv).validate()
