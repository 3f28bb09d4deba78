"""One mapping from engine errors to HTTP answers, shared by every route."""

from __future__ import annotations

from fastapi import HTTPException

from modules.processing import ParamsError, UnknownNameError


def params_http_error(error: ParamsError) -> HTTPException:
    """404 when a field names something not installed (A1111 answers an unknown sampler so),
    422 for any other bad value; the message names the field either way."""
    return HTTPException(404 if isinstance(error, UnknownNameError) else 422, str(error))


# readable_error's type prefix for bad input the worker found (what only the running job could check)
_INPUT_ERROR_STATUS = {"UnknownNameError": 404, "ParamsError": 422}


def failed_job_error(error: str | None, fallback: str) -> HTTPException:
    """The HTTP answer for a failed job: the client's 4xx when its input was at fault (the message
    names the field), else a 500 with the job's error."""
    text = error or fallback
    kind, _, message = text.partition(": ")
    if kind in _INPUT_ERROR_STATUS and message:
        return HTTPException(_INPUT_ERROR_STATUS[kind], message)
    return HTTPException(500, text)
