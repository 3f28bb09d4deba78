"""A small bounded schemathesis run over the whole API (tools/fuzz_api.py): no 5xx anywhere."""

from tests.helpers import api_client
from tools.fuzz_api import cheap_limits, cheapen, fuzz_app


def test_bounded_fuzz_finds_no_server_error(data_dir, tiny_checkpoints):
    with api_client(data_dir, {"tiny.safetensors": tiny_checkpoints["sd1"]}) as (client, state):
        report = fuzz_app(client.app, state, max_examples=6, seconds=40, seed=0)
    assert report["server_errors"] == 0, report["server_error_examples"]
    by_operation = report["statuses_by_operation"]
    assert report["operations_not_reached"] == [] and report["operations_tested"] == len(by_operation)
    assert report["requests"] == sum(sum(counts.values()) for counts in by_operation.values())
    assert "200" in by_operation["POST /sdapi/v1/txt2img"]  # schema-valid generations really ran
    assert "422" in by_operation["POST /easel/v1/jobs (txt2img params)"]
    assert all(400 <= int(status) < 500 for status in by_operation["POST /sdapi/v1/interrogate"])
    assert not any("server-" in label for label in by_operation)  # kill/stop/restart are never sent


def test_generation_requests_are_made_cheap_only_where_the_engine_would_accept_them():
    params = {"width": 1024, "height": 4096, "steps": 0, "n_iter": "many", "hr_scale": 3.5}
    cheapen(params, cheap_limits())
    assert params == {"width": 64, "height": 4096, "steps": 0, "n_iter": "many", "hr_scale": 1.0,
                      "batch_size": 1, "hr_second_pass_steps": 1, "hr_resize_x": 0, "hr_resize_y": 0}


def test_a_server_error_is_reported_with_what_was_sent(data_dir):
    with api_client(data_dir) as (client, state):
        def fragile(count: int) -> dict:
            return {"items": list(range(100 // count))}  # ZeroDivisionError for 0

        client.app.add_api_route("/sdapi/v1/fragile", fragile, methods=["GET"])
        report = fuzz_app(client.app, state, max_examples=50, seconds=30, only="fragile")
    assert report["operations_tested"] == 1 and report["server_errors"] >= 1
    example = report["server_error_examples"][0]
    assert example["operation"] == "GET /sdapi/v1/fragile" and example["query"]["count"] == 0
    assert example["status"] in (500, "exception") and "ZeroDivisionError" in example["answer"]
