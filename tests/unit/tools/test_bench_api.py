"""The API overhead benchmark end to end on a tiny random SD1 model, one round: the JSON it prints."""

from __future__ import annotations

import json

import pytest

from tools import bench_api

SIDE_KEYS = {"mean_ms", "median_ms", "min_ms", "all_ms"}


def test_one_round_prints_every_figure(tiny_checkpoints, capsys):
    report = bench_api.main(["--model", str(tiny_checkpoints["sd1"]), "--repeats", "1", "--warmup", "0",
                             "--steps", "2"])
    assert json.loads(capsys.readouterr().out) == report
    assert report["run"] == {"width": 64, "height": 64, "steps": 2, "sampler_name": "Euler a", "repeats": 1, "warmup": 0}
    assert report["same_image"] is True  # the API and the direct call drew the same pixels
    engine = report["engine"]
    assert SIDE_KEYS <= set(engine) and len(engine["all_ms"]) == 1 and engine["median_ms"] > 0
    for side in ("testclient", "http"):
        figures = report[side]
        assert SIDE_KEYS <= set(figures) and len(figures["all_ms"]) == 1
        difference = figures["all_ms"][0] - engine["all_ms"][0]
        assert figures["overhead"]["median_ms"] == pytest.approx(difference, abs=0.02)
        assert figures["overhead"]["of_minimums_ms"] == pytest.approx(difference, abs=0.02)
        expected_pct = 100 * difference / engine["median_ms"]  # from rounded figures: 1 % slack
        assert figures["overhead"]["median_pct"] == pytest.approx(expected_pct, rel=0.01, abs=0.05)
    assert report["environment"]["threads"] == 1


@pytest.mark.parametrize("argv", [["--repeats", "0"], ["--model", "/nonexistent.safetensors"]])
def test_bad_options_are_refused(argv):
    with pytest.raises(SystemExit):
        bench_api.parse_args(argv)
