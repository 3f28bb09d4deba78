"""The PNG Info tab: drop an image, read its generation parameters, send them on."""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

import gradio as gr
from PIL import Image

from modules import images


@dataclass
class PngInfoTab:
    image: gr.Image
    infotext: gr.State
    html: gr.HTML
    send_to_txt2img: gr.Button
    send_to_img2img: gr.Button
    send_to_inpaint: gr.Button

    def source(self, image: Image.Image | None, infotext: str) -> tuple[Any, str] | None:
        """For the send-to buttons: the image and its parameters (None when no image)."""
        return None if image is None else (image, infotext or "")


def info_html(image: Image.Image | None) -> tuple[str, str]:
    """(HTML for the page, the raw infotext) of an image."""
    if image is None:
        return "", ""
    text, items = images.read_infotext(image)
    parts = []
    if text:
        parts.append(f'<div class="easel-infotext"><h4>parameters</h4><p>{html.escape(text).replace(chr(10), "<br>")}'
                     "</p></div>")
    else:
        parts.append("<p>No generation parameters found in this image.</p>")
    shown = {k: v for k, v in items.items() if isinstance(v, (str, int, float))}
    if shown:
        rows = "".join(f"<dt>{html.escape(str(k))}</dt><dd>{html.escape(str(v))}</dd>" for k, v in shown.items())
        parts.append(f'<dl class="easel-pnginfo-items">{rows}</dl>')
    return "".join(parts), text or ""


def create_tab() -> PngInfoTab:
    with gr.Row(elem_id="pnginfo_row"):
        with gr.Column():
            image = gr.Image(label="Source", type="pil", sources=["upload", "clipboard"], elem_id="pnginfo_image",
                             height=480, format="png")
        with gr.Column():
            html_info = gr.HTML("", elem_id="pnginfo_html_info")
            infotext = gr.State("")
            with gr.Row():
                to_txt2img = gr.Button("Send to txt2img", elem_id="pnginfo_send_to_txt2img")
                to_img2img = gr.Button("Send to img2img", elem_id="pnginfo_send_to_img2img")
                to_inpaint = gr.Button("Send to inpaint", elem_id="pnginfo_send_to_inpaint")
    image.change(info_html, inputs=image, outputs=[html_info, infotext], show_progress="hidden")
    return PngInfoTab(image, infotext, html_info, to_txt2img, to_img2img, to_inpaint)
