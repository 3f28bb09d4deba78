"""The Gradio page: the quicksettings bar, then one tab per file in modules/ui/.

Handlers only convert values and call the engine (generation goes through the job queue);
errors become toasts or an error box, never tracebacks. Element ids follow A1111's.
"""

from __future__ import annotations

import logging

import gradio as gr

from modules import extensions as extension_loader
from modules import script_callbacks
from modules.cmd_args import REPO_ROOT
from modules.engine_state import EngineState
from modules.ui import (extensions, extra_networks, extras, img2img, png_info, quicksettings, results, settings, train,
                       txt2img)
from modules.ui.components import wire_style_saving
from modules.ui.page_assets import collect_assets
from modules.ui.send_to import wire_send
from modules.ui.token_counter import TokenCounter

JAVASCRIPT_DIR = REPO_ROOT / "javascript"
log = logging.getLogger(__name__)


def create_ui(state: EngineState) -> gr.Blocks:
    paths = state.paths
    counter = TokenCounter(state.models)
    assets = collect_assets(JAVASCRIPT_DIR, paths.data_dir, extension_loader.installed(paths, state.args))
    extension_tabs = script_callbacks.ui_tabs_callback()  # each builds its own Blocks, as in A1111
    with gr.Blocks(title="Easel", analytics_enabled=False) as demo:
        quick = quicksettings.create_quicksettings(state)
        with gr.Tabs(elem_id="tabs") as tabs:
            with gr.Tab("txt2img", id="txt2img", elem_id="tab_txt2img"):
                t2i = txt2img.create_tab(state, counter)
            with gr.Tab("img2img", id="img2img", elem_id="tab_img2img"):
                i2i = img2img.create_tab(state, counter)
            with gr.Tab("Extras", id="extras", elem_id="tab_extras"):
                extras_tab = extras.create_tab(state)
            with gr.Tab("PNG Info", id="pnginfo", elem_id="tab_pnginfo"):
                png = png_info.create_tab()
            with gr.Tab("Train", id="train", elem_id="tab_train"):
                train.create_tab(state, t2i.fields)
            _render_extension_tabs(extension_tabs)
            with gr.Tab("Settings", id="settings", elem_id="tab_settings"):
                settings_tab = settings.create_tab(state, skip_keys=list(quick.components))
            with gr.Tab("Extensions", id="extensions", elem_id="tab_extensions"):
                extensions.create_tab(state)

        wire_style_saving([t2i.row, i2i.row], state)
        for tab in (t2i, i2i):
            extra_networks.wire_checkpoint_cards(tab.networks, state, quick)
        _wire_send_to(state, tabs, t2i, i2i, png)
        _wire_send_to_extras(state, tabs, t2i, i2i, png, extras_tab)
        demo.load(None, js=assets.load_js())
        demo.load(lambda: quicksettings.load_updates(state, quick),
                  outputs=[*quick.components.values(), quick.status], show_progress="hidden")
        demo.load(lambda: settings.current_values(state, settings_tab),
                  outputs=list(settings_tab.components.values()), show_progress="hidden")
    return demo


def _render_extension_tabs(tabs: list) -> None:
    """Extensions' on_ui_tabs results, (blocks, title, elem_id) each, as tabs; a malformed
    entry is logged and recorded for the Extensions tab, the page still builds."""
    for entry in tabs:
        try:
            blocks, title, elem_id = entry
            with gr.Tab(str(title), id=str(elem_id), elem_id=f"tab_{elem_id}"):
                blocks.render()
        except Exception as e:
            log.exception("An extension tab could not be added: %r", entry)
            extension_loader.problems.add("", "ui_tabs", f"tab {entry!r} could not be added: {type(e).__name__}: {e}")


def _wire_send_to(state: EngineState, tabs: gr.Tabs, t2i: txt2img.Txt2ImgTab, i2i: img2img.Img2ImgTab,
                  png: png_info.PngInfoTab) -> None:
    for panel in (t2i.panel, i2i.panel):
        gallery_source = [panel.result, panel.selected]
        wire_send(panel.send_to_img2img, gallery_source, results.selected_file, i2i.paste_target("img2img"), tabs,
                  state)
        wire_send(panel.send_to_inpaint, gallery_source, results.selected_file, i2i.paste_target("inpaint"), tabs,
                  state)
    png_source = [png.image, png.infotext]
    wire_send(png.send_to_txt2img, png_source, png.source, t2i.paste_target(), tabs, state)
    wire_send(png.send_to_img2img, png_source, png.source, i2i.paste_target("img2img"), tabs, state)
    wire_send(png.send_to_inpaint, png_source, png.source, i2i.paste_target("inpaint"), tabs, state)


def _button_beside(anchor: gr.Button, label: str, elem_id: str) -> gr.Button:
    """A new button in the row that holds `anchor` (a row another tab's file built); the row's
    parent is put back, as re-entering a layout block re-points it."""
    row = anchor.parent
    parent = row.parent
    with row:
        button = gr.Button(label, elem_id=elem_id, size="sm")
    row.parent = parent
    return button


def _wire_send_to_extras(state: EngineState, tabs: gr.Tabs, t2i: txt2img.Txt2ImgTab, i2i: img2img.Img2ImgTab,
                         png: png_info.PngInfoTab, extras_tab: extras.ExtrasTab) -> None:
    target = extras_tab.paste_target()
    for panel in (t2i.panel, i2i.panel):
        button = _button_beside(panel.send_to_inpaint, "Send to extras", f"{panel.tab}_send_to_extras")
        wire_send(button, [panel.result, panel.selected], extras.image_only(results.selected_file), target, tabs,
                  state)
    button = _button_beside(png.send_to_inpaint, "Send to extras", "pnginfo_send_to_extras")
    wire_send(button, [png.image, png.infotext], extras.image_only(png.source), target, tabs, state)
