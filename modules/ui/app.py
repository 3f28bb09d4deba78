"""The Gradio page: the quicksettings bar, then one tab per file in modules/ui/.

Handlers only convert values and call the engine (generation goes through the job queue);
errors become toasts or an error box, never tracebacks. Element ids follow A1111's.
"""

from __future__ import annotations

import gradio as gr

from modules.cmd_args import REPO_ROOT
from modules.engine_state import EngineState
from modules.ui import extensions, extra_networks, img2img, png_info, quicksettings, results, settings, txt2img
from modules.ui.components import wire_style_saving
from modules.ui.extension_list import list_extensions
from modules.ui.page_assets import collect_assets
from modules.ui.send_to import wire_send
from modules.ui.token_counter import TokenCounter

JAVASCRIPT_DIR = REPO_ROOT / "javascript"


def create_ui(state: EngineState) -> gr.Blocks:
    paths = state.paths
    counter = TokenCounter(state.models)
    assets = collect_assets(JAVASCRIPT_DIR, paths.data_dir, list_extensions(paths.extensions_dir, paths.data_dir))
    with gr.Blocks(title="Easel", analytics_enabled=False) as demo:
        quick = quicksettings.create_quicksettings(state)
        with gr.Tabs(elem_id="tabs") as tabs:
            with gr.Tab("txt2img", id="txt2img", elem_id="tab_txt2img"):
                t2i = txt2img.create_tab(state, counter)
            with gr.Tab("img2img", id="img2img", elem_id="tab_img2img"):
                i2i = img2img.create_tab(state, counter)
            with gr.Tab("PNG Info", id="pnginfo", elem_id="tab_pnginfo"):
                png = png_info.create_tab()
            with gr.Tab("Settings", id="settings", elem_id="tab_settings"):
                settings_tab = settings.create_tab(state, skip_keys=list(quick.components))
            with gr.Tab("Extensions", id="extensions", elem_id="tab_extensions"):
                extensions.create_tab(state)

        wire_style_saving([t2i.row, i2i.row], state)
        for tab in (t2i, i2i):
            extra_networks.wire_checkpoint_cards(tab.networks, state, quick)
        _wire_send_to(state, tabs, t2i, i2i, png)
        demo.load(None, js=assets.load_js())
        demo.load(lambda: quicksettings.load_updates(state, quick),
                  outputs=[*quick.components.values(), quick.status], show_progress="hidden")
        demo.load(lambda: settings.current_values(state, settings_tab),
                  outputs=list(settings_tab.components.values()), show_progress="hidden")
    return demo


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
