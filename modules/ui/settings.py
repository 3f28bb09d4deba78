"""The Settings tab, generated from the options registry: one page per section, a search box,
"Show all pages", "Defaults" (fills the registry defaults in, Apply saves) and Apply.

Settings in the quicksettings bar are edited there and left out here, as in A1111.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any

import gradio as gr

from modules.engine_state import EngineState
from modules.options import OptionError, OptionInfo
from modules.sd_models.safe_load import CheckpointLoadError
from modules.ui.components import setting_component


def option_value(info: OptionInfo, raw: Any) -> Any:
    """A widget's value in the setting's type (sliders and numbers give floats; empty boxes None)."""
    kind = type(info.default)
    if kind is int and isinstance(raw, float) and raw.is_integer():
        return int(raw)
    if kind is float and isinstance(raw, int) and not isinstance(raw, bool):
        return float(raw)
    if kind is str and raw is None:
        return ""
    if kind is list and raw is None:
        return []
    return raw


def section_slug(section: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", section.lower()).strip("_")


def matches(info: OptionInfo, query: str) -> bool:
    query = query.strip().lower()
    return not query or query in info.label.lower() or query in info.key.lower() or query in info.section.lower()


def describe_changes(changed: list[str], infos: dict[str, OptionInfo]) -> str:
    if not changed:
        return "Nothing changed."
    names = ", ".join(html.escape(infos[key].label) for key in changed)
    return f"{len(changed)} setting{'s' if len(changed) != 1 else ''} changed: {names}."


@dataclass
class SettingsTab:
    components: dict[str, Any]  # option key -> component
    sections: dict[str, gr.Column]  # section name -> its page
    result: gr.HTML


def create_tab(state: EngineState, skip_keys: list[str]) -> SettingsTab:
    options = state.options
    infos = {key: info for key, info in options.registry.infos.items() if key not in skip_keys}
    section_names = options.section_order(infos.values())
    with gr.Row(elem_id="settings_toolbar"):
        search = gr.Textbox(placeholder="Search settings…", show_label=False, elem_id="settings_search", scale=4)
        show_all = gr.Button("Show all pages", elem_id="settings_show_all_pages", scale=1)
        defaults = gr.Button("Defaults", elem_id="settings_defaults", scale=1)
        apply = gr.Button("Apply settings", variant="primary", elem_id="settings_submit", scale=1)
    result = gr.HTML("", elem_id="settings_result")
    components: dict[str, Any] = {}
    sections: dict[str, gr.Column] = {}
    with gr.Row(elem_id="settings"):
        with gr.Column(scale=1, min_width=180):
            page = gr.Radio(section_names, value=section_names[0] if section_names else None, label="Sections",
                            elem_id="settings_sections")
        with gr.Column(scale=4):
            for section in section_names:
                with gr.Column(visible=section == section_names[0], elem_id=f"settings_{section_slug(section)}") \
                        as column:
                    gr.Markdown(f"### {section}")
                    for key, info in infos.items():
                        if info.section == section:
                            components[key] = setting_component(state, key, options.get(key))
                sections[section] = column
    tab = SettingsTab(components, sections, result)
    _wire(tab, state, infos, page, search, show_all, defaults, apply)
    return tab


def _wire(tab: SettingsTab, state: EngineState, infos: dict[str, OptionInfo], page: gr.Radio, search: gr.Textbox,
          show_all: gr.Button, defaults: gr.Button, apply: gr.Button) -> None:
    keys = list(tab.components)
    visibility_outputs = [*tab.sections.values(), *tab.components.values()]

    def visibility(section: str | None, query: str, everything: bool = False) -> list[Any]:
        """Which pages and settings show: a search shows matches on every page."""
        shown = {key: everything or matches(infos[key], query) for key in keys}
        searching = bool(query.strip())
        pages = [gr.update(visible=everything or (any(shown[k] for k in keys if infos[k].section == name)
                                                  if searching else name == section))
                 for name in tab.sections]
        return [*pages, *[gr.update(visible=shown[key]) for key in keys]]

    page.change(lambda section: visibility(section, ""), inputs=page, outputs=visibility_outputs,
                show_progress="hidden")
    search.change(lambda query, section: visibility(section, query or ""), inputs=[search, page],
                  outputs=visibility_outputs, show_progress="hidden", trigger_mode="always_last")
    show_all.click(lambda: visibility(None, "", everything=True), outputs=visibility_outputs, show_progress="hidden")
    defaults.click(lambda: [infos[key].default for key in keys], outputs=list(tab.components.values()),
                   show_progress="hidden")

    def apply_settings(*values: Any):
        changes = {key: option_value(infos[key], value) for key, value in zip(keys, values, strict=True)
                   if option_value(infos[key], value) != state.options.get(key)}
        try:
            message = describe_changes(state.options.update(changes), infos)
        except (OptionError, CheckpointLoadError) as e:
            gr.Warning(str(e))
            message = f'<div class="easel-error">Not applied: {html.escape(str(e))}</div>'
        return [message, *current_values(state, tab)]

    apply.click(apply_settings, inputs=list(tab.components.values()),
                outputs=[tab.result, *tab.components.values()])


def current_values(state: EngineState, tab: SettingsTab) -> list[Any]:
    """The stored values, for page load and after Apply (a handler may canonicalise them)."""
    return [state.options.get(key) for key in tab.components]
