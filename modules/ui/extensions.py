"""The Extensions tab: the folders in extensions/, switched on or off (applies at next start)."""

from __future__ import annotations

import html
from dataclasses import dataclass

import gradio as gr

from modules.engine_state import EngineState
from modules.ui.extension_list import InstalledExtension, list_extensions, save_enabled


def table_html(extensions: list[InstalledExtension]) -> str:
    if not extensions:
        return "<p>No extensions installed: put extension folders into <code>extensions/</code>.</p>"
    rows = "".join(
        f"<tr><td>{html.escape(ext.name)}</td><td>{'enabled' if ext.enabled else 'disabled'}</td>"
        f"<td>{len(ext.scripts)}</td><td>{len(ext.javascript)}</td><td>{'yes' if ext.style else 'no'}</td>"
        f"<td><code>{html.escape(str(ext.path))}</code></td></tr>"
        for ext in extensions)
    return ('<table class="easel-extensions-table"><thead><tr><th>Extension</th><th>State</th><th>Scripts</th>'
            f"<th>JavaScript</th><th>style.css</th><th>Folder</th></tr></thead><tbody>{rows}</tbody></table>")


@dataclass
class ExtensionsTab:
    enabled: gr.CheckboxGroup
    table: gr.HTML
    result: gr.HTML


def create_tab(state: EngineState) -> ExtensionsTab:
    paths = state.paths

    def installed() -> list[InstalledExtension]:
        return list_extensions(paths.extensions_dir, paths.data_dir)

    extensions = installed()
    enabled = gr.CheckboxGroup([e.name for e in extensions], value=[e.name for e in extensions if e.enabled],
                               label="Enabled extensions", elem_id="extensions_enabled")
    with gr.Row():
        apply = gr.Button("Apply (takes effect after a restart)", variant="primary", elem_id="extensions_apply")
        refresh = gr.Button("Check for new folders", elem_id="extensions_refresh")
    result = gr.HTML("", elem_id="extensions_result")
    table = gr.HTML(table_html(extensions), elem_id="extensions_installed_html")
    tab = ExtensionsTab(enabled, table, result)

    def apply_changes(names: list[str]):
        try:
            disabled = save_enabled(paths.extensions_dir, paths.data_dir, names or [])
        except (ValueError, OSError) as e:
            raise gr.Error(str(e), print_exception=False) from None
        current = installed()
        off = [name for name in disabled if name in {e.name for e in current}]
        message = f"Saved. Disabled: {', '.join(off)}." if off else "Saved. All extensions are enabled."
        return html.escape(message + " Restart Easel to apply."), table_html(current)

    apply.click(apply_changes, inputs=enabled, outputs=[result, table])
    refresh.click(lambda: refreshed(installed()), outputs=[enabled, table], show_progress="hidden")
    return tab


def refreshed(extensions: list[InstalledExtension]) -> list[object]:
    return [gr.update(choices=[e.name for e in extensions], value=[e.name for e in extensions if e.enabled]),
            table_html(extensions)]
