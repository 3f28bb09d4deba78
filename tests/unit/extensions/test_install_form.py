"""The Extensions tab's install forms (Gradio-free handler): URL, zip or folder, refusal on an
open server, and the table listing what was installed with its problems."""

from __future__ import annotations

import zipfile
from types import SimpleNamespace

import pytest

from modules import extensions
from modules.cmd_args import parse_args
from modules.extension_install import ExtensionInstallError
from modules.paths import DataPaths
from modules.ui.extensions import install_request, table_html


def state_for(tmp_path, *flags):
    args = parse_args(["--data-dir", str(tmp_path), "--no-demo-model", *flags])
    return SimpleNamespace(args=args, paths=DataPaths.from_args(args))


def test_zip_then_folder_forms_install_and_the_table_lists_them(tmp_path):
    state = state_for(tmp_path)
    archive = tmp_path / "zipped-ext.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("scripts/a.py", "A = 1\n")
        z.writestr("install.py", "raise SystemExit('no index')\n")
    done = install_request(state, "file", str(archive), "", " renamed ")
    assert done.extension.name == "renamed" and "install.py failed" in done.message()
    source = tmp_path / "src" / "folder-ext"
    (source / "javascript").mkdir(parents=True)
    (source / "javascript" / "x.js").write_text("1;")
    assert install_request(state, "file", None, str(source), "").extension.name == "folder-ext"
    found = extensions.installed(state.paths)
    html = table_html(found, {"renamed": ["install: install.py exited with status 1: no index"]})
    assert "folder-ext" in html and "renamed" in html and "no index" in html and "easel-extension-failed" in html


def test_forms_name_what_is_missing_or_wrong(tmp_path):
    state = state_for(tmp_path)
    with pytest.raises(ExtensionInstallError, match="choose a .zip file or type a folder path"):
        install_request(state, "file", None, "  ", "")
    with pytest.raises(ExtensionInstallError, match="is not a git URL"):
        install_request(state, "url", "", "", "")


def test_installing_is_refused_with_listen(tmp_path):
    state = state_for(tmp_path, "--listen")
    with pytest.raises(ExtensionInstallError, match="--enable-insecure-extension-access"):
        install_request(state, "file", None, str(tmp_path), "")
    assert not (tmp_path / "extensions").exists() or list((tmp_path / "extensions").iterdir()) == []
