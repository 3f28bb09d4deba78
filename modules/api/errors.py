"""One mapping from engine errors to HTTP answers, shared by every route."""

from __future__ import annotations

from fastapi import HTTPException

from modules.processing import ParamsError, UnknownNameError


def params_http_error(error: ParamsError) -> HTTPException:
    """404 when a field names something not installed (A1111 answers an unknown sampler so),
    422 for any other bad value; the message names the field either way."""
    return HTTPException(404 if isinstance(error, UnknownNameError) else 422, str(error))
