"""/sdapi/v1/interrogate: no interrogator weights ship with Easel, so every answer is a clear
4xx: the body's fields are checked first, then the missing interrogator is named."""

import base64
import io

import pytest
from PIL import Image

from tests.helpers import api_client


def png_base64() -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    with api_client(tmp_path_factory.mktemp("data")) as (client, _state):
        yield client


@pytest.mark.parametrize("body, status, starts", [
    ({"image": "not base64 at all!"}, 422, "image: not a valid base64-encoded image"),
    ({}, 422, "image: an image is required"),
    ({"image": png_base64(), "model": "blip9000"}, 404, "model: unknown interrogate model 'blip9000'"),
    ({"image": png_base64()}, 404, "model: the 'clip' interrogator"),
    ({"image": "data:image/png;base64," + png_base64(), "model": "deepdanbooru"}, 404,
     "model: the 'deepdanbooru' interrogator"),
])
def test_interrogate_answers_a_clear_4xx(client, body, status, starts):
    response = client.post("/sdapi/v1/interrogate", json=body)
    assert response.status_code == status and response.json()["detail"].startswith(starts), response.text


def test_interrogate_rejects_a_body_of_the_wrong_shape(client):
    response = client.post("/sdapi/v1/interrogate", json={"image": 5})
    assert response.status_code == 422 and "image" in response.text
