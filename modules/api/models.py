"""Response shapes of /sdapi/v1, as AUTOMATIC1111 defines them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class SDModelItem(BaseModel):
    title: str = Field(title="Title", description="name [shorthash], as shown in the checkpoint dropdown")
    model_name: str = Field(title="Model Name")
    hash: str | None = Field(title="Short hash", description="first 10 hex of sha256; null until first load")
    sha256: str | None = Field(title="sha256 hash")
    filename: str = Field(title="Filename")
    config: str | None = Field(title="Config file", description="yaml beside the checkpoint, if any")


class SDVaeItem(BaseModel):
    model_name: str = Field(title="Model Name")
    filename: str = Field(title="Filename")


class MemoryResponse(BaseModel):
    ram: dict = Field(title="RAM", description="System memory stats")
    cuda: dict = Field(title="CUDA", description="nVidia CUDA memory stats")


class FaceRestorerItem(BaseModel):
    name: str = Field(title="Name")
    cmd_dir: str | None = Field(title="Path")


class RealesrganItem(BaseModel):
    name: str = Field(title="Name")
    path: str | None = Field(title="Path")
    scale: int | None = Field(title="Scale")


class ScriptsList(BaseModel):
    txt2img: list[str] | None = Field(default=None, title="Txt2img", description="Titles of scripts (txt2img)")
    img2img: list[str] | None = Field(default=None, title="Img2img", description="Titles of scripts (img2img)")


class ScriptArg(BaseModel):
    label: str | None = Field(default=None, title="Label", description="Name of the argument in UI")
    value: Any | None = Field(default=None, title="Value", description="Default value of the argument")
    minimum: Any | None = Field(default=None, title="Minimum", description="Minimum allowed value in the UI")
    maximum: Any | None = Field(default=None, title="Maximum", description="Maximum allowed value in the UI")
    step: Any | None = Field(default=None, title="Step", description="Step for changing the value in the UI")
    choices: list[Any] | None = Field(default=None, title="Choices", description="Possible values for the argument")


class ScriptInfo(BaseModel):
    name: str | None = Field(default=None, title="Name", description="Script name")
    is_alwayson: bool | None = Field(default=None, title="IsAlwayson", description="Whether the script always runs")
    is_img2img: bool | None = Field(default=None, title="IsImg2img", description="Whether it is an img2img script")
    args: list[ScriptArg] = Field(title="Arguments", description="The script's arguments")
