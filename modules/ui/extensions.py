"""The Extensions tab: installed extensions (switched on or off, with every problem they had),
and installing one from a git URL, a .zip file or a local folder (takes effect after a restart)."""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass

import gradio as gr

from modules import extension_install, extensions
from modules.engine_state import EngineState

log = logging.getLogger(__name__)


def _problem_list(items: list[str]) -> str:
    if not items:
        return ""
    return '<ul class="easel-extension-problems">' + "".join(f"<li>{html.escape(i)}</li>" for i in items) + "</ul>"


def table_html(found: list[extensions.Extension], problems: dict[str, list[str]] | None = None) -> str:
    problems = problems or {}
    if not found:
        body = "<p>No extensions installed: put extension folders into <code>extensions/</code> or install one below.</p>"
    else:
        rows = "".join(
            f'<tr class="{"easel-extension-failed" if problems.get(ext.name) else ""}">'
            f"<td>{html.escape(ext.name)}</td><td>{'enabled' if ext.enabled else 'disabled'}</td>"
            f"<td>{'built-in' if ext.is_builtin else 'user'}</td>"
            f"<td>{len(ext.scripts)}</td><td>{len(ext.javascript)}</td><td>{'yes' if ext.style else 'no'}</td>"
            f"<td><code>{html.escape(str(ext.path))}</code></td>"
            f"<td>{_problem_list(problems.get(ext.name, [])) or 'none'}</td></tr>"
            for ext in found)
        body = ('<table class="easel-extensions-table"><thead><tr><th>Extension</th><th>State</th><th>Kind</th>'
                "<th>Scripts</th><th>JavaScript</th><th>style.css</th><th>Folder</th><th>Problems</th></tr></thead>"
                f"<tbody>{rows}</tbody></table>")
    outside = problems.get("", [])
    if outside:
        body += f"<p>Problems outside any extension:</p>{_problem_list(outside)}"
    return body


@dataclass
class ExtensionsTab:
    enabled: gr.CheckboxGroup
    table: gr.HTML
    result: gr.HTML
    install_result: gr.HTML


def create_tab(state: EngineState) -> ExtensionsTab:
    paths = state.paths

    def installed() -> list[extensions.Extension]:
        return extensions.installed(paths, state.args)

    def refreshed() -> list[object]:
        found = installed()
        names = [e.name for e in found]
        return [gr.update(choices=names, value=[e.name for e in found if e.enabled]),
                table_html(found, extensions.problems_by_extension(found))]

    found = installed()
    with gr.Tabs(elem_id="tabs_extensions"):
        with gr.Tab("Installed", id="installed"):
            enabled = gr.CheckboxGroup([e.name for e in found], value=[e.name for e in found if e.enabled],
                                       label="Enabled extensions", elem_id="extensions_enabled")
            with gr.Row():
                apply = gr.Button("Apply (takes effect after a restart)", variant="primary",
                                  elem_id="extensions_apply")
                refresh = gr.Button("Check for new folders", elem_id="extensions_refresh")
            result = gr.HTML("", elem_id="extensions_result")
            table = gr.HTML(table_html(found, extensions.problems_by_extension(found)),
                            elem_id="extensions_installed_html")
        refused = extension_install.install_allowed(state.args)
        with gr.Tab("Install from URL", id="install_from_url"):
            url = gr.Textbox(label="URL for extension's git repository", elem_id="extensions_install_url")
            branch = gr.Textbox(label="Specific branch name", placeholder="Leave empty for the default branch",
                                elem_id="extensions_install_branch")
            url_dirname = gr.Textbox(label="Local directory name", placeholder="Leave empty for auto",
                                     elem_id="extensions_install_dirname")
            install_url = gr.Button("Install", variant="primary", interactive=refused is None,
                                    elem_id="extensions_install_button")
        with gr.Tab("Install from file", id="install_from_file"):
            archive = gr.File(label="Extension .zip file", file_types=[".zip"], type="filepath",
                              elem_id="extensions_install_zip")
            folder = gr.Textbox(label="…or a local extension folder", placeholder="/path/to/extension",
                                elem_id="extensions_install_folder")
            file_dirname = gr.Textbox(label="Local directory name", placeholder="Leave empty for auto",
                                      elem_id="extensions_install_file_dirname")
            install_file = gr.Button("Install", variant="primary", interactive=refused is None,
                                     elem_id="extensions_install_file_button")
    install_result = gr.HTML(f'<p class="easel-error">{html.escape(refused)}</p>' if refused else "",
                             elem_id="extension_install_result")
    tab = ExtensionsTab(enabled, table, result, install_result)

    def apply_changes(names: list[str]):
        try:
            disabled = extensions.save_enabled(paths.extensions_dir, paths.data_dir, names or [],
                                               extensions.BUILTIN_DIR)
        except (ValueError, OSError) as e:
            raise gr.Error(str(e), print_exception=False) from None
        current = installed()
        off = [name for name in disabled if name in {e.name for e in current}]
        message = f"Saved. Disabled: {', '.join(off)}." if off else "Saved. All extensions are enabled."
        return html.escape(message + " Restart Easel to apply."), table_html(current,
                                                                               extensions.problems_by_extension(current))

    def install(kind: str, *values: str):
        try:
            done = install_request(state, kind, *values)
        except extension_install.ExtensionInstallError as e:  # stays in the tab, and a toast
            log.error("Extension install failed: %s", e)
            gr.Warning(str(e))
            return [f'<div class="easel-error">Not installed: {html.escape(str(e))}</div>', gr.update(), gr.update()]
        log.info("%s", done.message())
        return [html.escape(done.message()), *refreshed()]

    apply.click(apply_changes, inputs=enabled, outputs=[result, table])
    refresh.click(refreshed, outputs=[enabled, table], show_progress="hidden")
    install_outputs = [install_result, enabled, table]
    install_url.click(lambda *v: install("url", *v), inputs=[url, branch, url_dirname], outputs=install_outputs)
    install_file.click(lambda *v: install("file", *v), inputs=[archive, folder, file_dirname],
                       outputs=install_outputs)
    return tab


def install_request(state: EngineState, kind: str, *values: str | None) -> extension_install.Installed:
    """One install form's values → the install ("url": url, branch, dirname; "file": zip
    path, folder, dirname). ExtensionInstallError says what is wrong."""
    refused = extension_install.install_allowed(state.args)
    if refused:
        raise extension_install.ExtensionInstallError(refused)
    paths = state.paths
    first, second, dirname = ((v or "").strip() for v in values)
    if kind == "url":
        return extension_install.install_from_git(first, paths.extensions_dir, paths.data_dir, dirname or None,
                                                  second or None)
    if first:
        return extension_install.install_from_zip(first, paths.extensions_dir, paths.data_dir, dirname or None)
    if second:
        return extension_install.install_from_folder(second, paths.extensions_dir, paths.data_dir, dirname or None)
    raise extension_install.ExtensionInstallError("choose a .zip file or type a folder path")
