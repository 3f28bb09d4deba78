"""POST /sdapi/v1/interrogate: A1111's image → caption route.

Easel bundles no interrogator (CLIP+BLIP for "clip", DeepDanbooru for "deepdanbooru") and
never fetches weights at run time, so a well-formed request gets a 404 naming the missing
interrogator; a malformed one gets a 422 naming the field, as every other route does.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from modules.api.errors import params_http_error
from modules.generation_jobs import decode_image
from modules.processing import ParamsError, UnknownNameError

INTERROGATORS = {"clip": "CLIP + BLIP caption models", "deepdanbooru": "DeepDanbooru tagger"}


class InterrogateRequest(BaseModel):
    image: str = Field("", description="the image to caption, base64 (or a data: URL)")
    model: str = Field("clip", description=f"one of {', '.join(INTERROGATORS)}")


def add_interrogate_route(router: APIRouter) -> None:
    @router.post("/interrogate")
    def interrogate(body: InterrogateRequest) -> dict[str, str]:
        try:
            if body.model not in INTERROGATORS:
                raise UnknownNameError("model", f"unknown interrogate model {body.model!r}; "
                                                f"A1111's are {', '.join(INTERROGATORS)}")
            if not body.image:
                raise ParamsError("image", "an image is required (base64-encoded)")
            decode_image(body.image, "image")
        except ParamsError as e:
            raise params_http_error(e) from e
        raise HTTPException(404, f"model: the {body.model!r} interrogator ({INTERROGATORS[body.model]}) is not "
                                 "installed; Easel bundles no interrogator weights and fetches none")
