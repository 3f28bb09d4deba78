"""Response shapes of /sdapi/v1, as AUTOMATIC1111 defines them."""

from __future__ import annotations

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
