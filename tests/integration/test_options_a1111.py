"""A1111's test_options_write flow, and what its send_seed / send_size options change: the
"Send to" buttons leave seed or size out; the paste button always fills them."""

from modules.processing import Txt2ImgParams
from modules.ui.send_to import PasteTarget, field_updates
from tests.helpers import api_client

INFOTEXT = "a red circle\nSteps: 7, Sampler: Euler a, CFG scale: 5, Seed: 1234, Size: 96x80"


def test_options_write_flips_send_seed_and_back(data_dir):
    with api_client(data_dir) as (client, state):
        before = client.get("/sdapi/v1/options").json()["send_seed"]
        assert client.post("/sdapi/v1/options", json={"send_seed": not before}).status_code == 200
        assert client.get("/sdapi/v1/options").json()["send_seed"] is (not before)
        assert state.options.send_seed is (not before)
        assert client.post("/sdapi/v1/options", json={"send_seed": before}).status_code == 200
        assert client.get("/sdapi/v1/options").json()["send_seed"] is before
        response = client.post("/sdapi/v1/options", json={"send_seed": "yes"})
        assert response.status_code == 400 and "send_seed" in response.json()["detail"]


def test_send_to_leaves_out_seed_and_size_as_the_options_say(data_dir):
    with api_client(data_dir) as (_client, state):
        target = PasteTarget("txt2img", Txt2ImgParams, {name: name for name in ("seed", "width", "height", "steps")})
        assert field_updates(target, INFOTEXT, state, sending=True) == {"seed": 1234, "width": 96, "height": 80,
                                                                        "steps": 7}
        state.options.update({"send_seed": False, "send_size": False})
        assert field_updates(target, INFOTEXT, state, sending=True) == {"steps": 7}
        assert field_updates(target, INFOTEXT, state)["seed"] == 1234  # the paste button fills everything
