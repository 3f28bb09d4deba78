"""The extension loader: enabled state, script order, install.py once per content, preload.py
flags, metadata.ini, and installing from a folder, a zip file or a git URL."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from modules import extension_install, extensions
from modules.cmd_args import parse_args
from modules.extension_install import ExtensionInstallError
from modules.paths import DataPaths


@pytest.fixture(autouse=True)
def fresh_problems(monkeypatch):
    log = extensions.ProblemLog()
    monkeypatch.setattr(extensions, "problems", log)
    return log


def make_extension(root: Path, name: str, **files: str) -> Path:
    """An extension folder with `files` ({"scripts/a.py": source, ...})."""
    folder = root / name
    folder.mkdir(parents=True)
    for relative, text in files.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return folder


def paths_for(data: Path) -> DataPaths:
    return DataPaths.from_args(parse_args(["--data-dir", str(data), "--no-demo-model"]))


def stage_messages(log: extensions.ProblemLog, stage: str) -> list[str]:
    return [p.message for p in log.all() if p.stage == stage]


# --- enabled state and script files ---------------------------------------------------------------

def test_disabled_extension_is_persisted_and_its_scripts_are_not_loaded(tmp_path):
    data = tmp_path
    for name in ("beta", "Alpha"):
        make_extension(data / "extensions", name, **{"scripts/s.py": f"NAME = {name!r}\n"})
    paths = paths_for(data)
    user_scripts = [f for base, f in extensions.script_files(paths) if base != extensions.REPO_ROOT]
    assert [f.parent.parent.name for f in user_scripts] == ["Alpha", "beta"]  # A1111 order: by name

    extensions.save_enabled(paths.extensions_dir, data, ["Alpha"])
    assert json.loads((data / "extensions-state.json").read_text()) == {"disabled_extensions": ["beta"]}
    found = extensions.installed(paths)
    assert [(e.name, e.enabled) for e in found] == [("Alpha", True), ("beta", False)]
    user_scripts = [f for base, f in extensions.script_files(paths) if base != extensions.REPO_ROOT]
    assert [f.parent.parent.name for f in user_scripts] == ["Alpha"]


def test_disable_flags_switch_extensions_off_without_saving(tmp_path):
    make_extension(tmp_path / "extensions", "mine", **{"scripts/a.py": ""})
    paths = paths_for(tmp_path)
    args = parse_args(["--data-dir", str(tmp_path), "--disable-extra-extensions"])
    assert [e.enabled for e in extensions.installed(paths, args)] == [False]
    assert not (tmp_path / "extensions-state.json").exists()


def test_metadata_problems_are_reported(tmp_path, fresh_problems):
    make_extension(tmp_path / "extensions", "needs-other", **{"metadata.ini": "[Extension]\nName = Needy\n"
                                                                              "Requires = other-ext, needs-other\n"})
    make_extension(tmp_path / "extensions", "broken-meta", **{"metadata.ini": "not an ini file ["})
    found = extensions.installed(paths_for(tmp_path))
    assert found[1].canonical_name == "needy" and found[1].metadata.requires == ("other-ext", "needs-other")
    extensions.check_requirements(found)
    messages = stage_messages(fresh_problems, "metadata")
    assert any("metadata.ini is unreadable" in m for m in messages)
    assert any("requires extension 'other-ext'" in m for m in messages)
    assert not any("'needs-other'" in m for m in messages)


# --- install.py --------------------------------------------------------------------------------------

INSTALL = '''
import os, sys
import launch  # the repo root is on PYTHONPATH, as A1111 extensions expect
assert launch.is_installed("pip") and not launch.is_installed("no-such-distribution-xyz")
assert "pip" in launch.run_pip("--version", "pip")
with open("runs.txt", "a") as f:  # cwd is the extension folder
    f.write(sys.executable + "\\n")
'''


def test_install_py_runs_once_per_content_in_this_python(tmp_path):
    ext_dir = make_extension(tmp_path / "extensions", "installer", **{"install.py": INSTALL})
    [ext] = extensions.list_extensions(tmp_path / "extensions", tmp_path)
    first = extensions.run_pending_installers([ext], tmp_path)
    assert [(r.ran, r.ok) for r in first] == [(True, True)], first
    assert extensions.run_pending_installers([ext], tmp_path)[0].ran is False
    assert (ext_dir / "runs.txt").read_text().splitlines() == [sys.executable]
    (ext_dir / "install.py").write_text(INSTALL + "\n# changed\n")
    assert extensions.run_pending_installers([ext], tmp_path)[0].ran is True
    (ext_dir / "requirements.txt").write_text("nothing\n")  # requirements count as content too
    assert extensions.run_pending_installers([ext], tmp_path)[0].ran is True
    assert len((ext_dir / "runs.txt").read_text().splitlines()) == 3
    assert "user/installer" in json.loads((tmp_path / "extensions-installed.json").read_text())


def test_failing_install_py_is_recorded_and_tried_again(tmp_path, fresh_problems):
    ext_dir = make_extension(tmp_path / "extensions", "bad-installer",
                             **{"install.py": "print('fetching'); raise SystemExit('no network for pip')\n"})
    [ext] = extensions.list_extensions(tmp_path / "extensions", tmp_path)
    [run] = extensions.run_pending_installers([ext], tmp_path)
    assert (run.ran, run.ok) == (True, False)
    [message] = stage_messages(fresh_problems, "install")
    assert "status 1" in message and "no network for pip" in message
    (ext_dir / "install.py").write_text("print('ok now')\n")
    [run] = extensions.run_pending_installers([ext], tmp_path)
    assert run.ok and stage_messages(fresh_problems, "install") == []


def test_disabled_extensions_do_not_install(tmp_path):
    make_extension(tmp_path / "extensions", "off", **{"install.py": "raise SystemExit(1)\n"})
    extensions.save_enabled(tmp_path / "extensions", tmp_path, [])
    assert extensions.run_pending_installers(extensions.list_extensions(tmp_path / "extensions", tmp_path),
                                             tmp_path) == []


# --- preload.py --------------------------------------------------------------------------------------

def test_preload_flags_parse_and_a_broken_preload_is_reported(tmp_path, fresh_problems):
    make_extension(tmp_path / "extensions", "flags", **{"preload.py": '''
        def preload(parser):
            parser.add_argument("--flags-ext-level", type=int, default=1)
        '''})
    make_extension(tmp_path / "extensions", "raises", **{"preload.py": "raise RuntimeError('preload boom')\n"})
    make_extension(tmp_path / "extensions", "clashes", **{"preload.py": '''
        def preload(parser):
            parser.add_argument("--api", action="store_true")
        '''})
    args = parse_args(["--data-dir", str(tmp_path), "--flags-ext-level", "3", "--api"])
    assert args.flags_ext_level == 3 and args.api is True
    messages = stage_messages(fresh_problems, "preload")
    assert len(messages) == 2
    assert any("preload boom" in m for m in messages) and any("--api" in m for m in messages)
    assert parse_args(["--data-dir", str(tmp_path)]).flags_ext_level == 1


def test_a_disabled_extensions_preload_does_not_run(tmp_path):
    make_extension(tmp_path / "extensions", "flags", **{"preload.py": '''
        def preload(parser):
            parser.add_argument("--flags-ext-level", type=int, default=1)
        '''})
    extensions.save_enabled(tmp_path / "extensions", tmp_path, [])
    with pytest.raises(SystemExit):
        parse_args(["--data-dir", str(tmp_path), "--flags-ext-level", "3"])
    assert not hasattr(parse_args(["--data-dir", str(tmp_path)]), "flags_ext_level")


# --- installing ----------------------------------------------------------------------------------------

def write_zip(path: Path, entries: dict[str, str], links: dict[str, str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in entries.items():
            archive.writestr(name, text)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
    return path


def leftovers(extensions_dir: Path) -> list[str]:
    return sorted(p.name for p in extensions_dir.iterdir()) if extensions_dir.exists() else []


def test_zip_with_one_top_folder_installs_under_that_name_and_runs_install_py(tmp_path):
    zip_path = write_zip(tmp_path / "download.zip", {
        "sd-webui-thing-main/scripts/thing.py": "X = 1\n",
        "sd-webui-thing-main/install.py": "open('installed.txt', 'w').write('yes')\n"})
    done = extension_install.install_from_zip(zip_path, tmp_path / "extensions", tmp_path)
    target = tmp_path / "extensions" / "sd-webui-thing-main"
    assert done.extension.path == target and (target / "scripts" / "thing.py").read_text() == "X = 1\n"
    assert done.install.ran and done.install.ok and (target / "installed.txt").read_text() == "yes"
    assert "Restart Easel" in done.message()
    with pytest.raises(ExtensionInstallError, match="already installed"):
        extension_install.install_from_zip(zip_path, tmp_path / "extensions", tmp_path)
    assert (target / "scripts" / "thing.py").read_text() == "X = 1\n"
    flat = write_zip(tmp_path / "flat-ext.zip", {"scripts/a.py": "", "style.css": ""})
    assert extension_install.install_from_zip(flat, tmp_path / "extensions", tmp_path).extension.name == "flat-ext"
    assert leftovers(tmp_path / "extensions") == ["flat-ext", "sd-webui-thing-main"]


@pytest.mark.parametrize("entries, links, reason", [
    ({"ext/scripts/a.py": "", "ext/../../evil.py": "bad"}, None, "points outside"),
    ({"/etc/evil.py": "bad"}, None, "points outside"),
    ({"ext\\..\\..\\evil.py": "bad"}, None, "points outside"),
    ({"ext/scripts/a.py": ""}, {"ext/link": "/etc/passwd"}, "symbolic link"),
])
def test_unsafe_zip_is_refused_and_nothing_is_written(tmp_path, entries, links, reason):
    zip_path = write_zip(tmp_path / "evil.zip", entries, links)
    with pytest.raises(ExtensionInstallError, match=reason):
        extension_install.install_from_zip(zip_path, tmp_path / "extensions", tmp_path)
    assert leftovers(tmp_path / "extensions") == []
    assert not (tmp_path / "evil.py").exists() and not list(tmp_path.rglob("evil.py"))


def test_bad_and_empty_zip_files_are_clear_errors(tmp_path):
    (tmp_path / "not.zip").write_bytes(b"this is no zip")
    with pytest.raises(ExtensionInstallError, match="not a readable zip file"):
        extension_install.install_from_zip(tmp_path / "not.zip", tmp_path / "extensions", tmp_path)
    with pytest.raises(ExtensionInstallError, match="is empty"):
        extension_install.install_from_zip(write_zip(tmp_path / "empty.zip", {}), tmp_path / "extensions", tmp_path)
    with pytest.raises(ExtensionInstallError, match="not a valid folder name"):
        extension_install.install_from_zip(write_zip(tmp_path / "x.zip", {"a.py": ""}), tmp_path / "extensions",
                                           tmp_path, name="../up")


def test_install_from_a_local_folder(tmp_path):
    source = make_extension(tmp_path / "src", "my-folder-ext", **{"scripts/a.py": "A = 1\n"})
    done = extension_install.install_from_folder(source, tmp_path / "extensions", tmp_path)
    assert done.extension.name == "my-folder-ext" and [p.name for p in done.extension.scripts] == ["a.py"]
    with pytest.raises(ExtensionInstallError, match="already installed"):
        extension_install.install_from_folder(source, tmp_path / "extensions", tmp_path)
    with pytest.raises(ExtensionInstallError, match="no such folder"):
        extension_install.install_from_folder(tmp_path / "missing", tmp_path / "extensions", tmp_path)


def test_git_url_offline_is_a_clear_error_and_leaves_nothing(tmp_path):
    with pytest.raises(ExtensionInstallError) as error:
        extension_install.install_from_git("https://github.invalid/someone/sd-webui-ext.git", tmp_path / "extensions",
                                           tmp_path)
    message = str(error.value)
    assert "could not clone https://github.invalid/someone/sd-webui-ext.git" in message
    assert "Could not resolve host" in message and "online" in message and "Nothing was installed" in message
    assert leftovers(tmp_path / "extensions") == []
    with pytest.raises(ExtensionInstallError, match="is not a git URL"):
        extension_install.install_from_git("rm -rf /", tmp_path / "extensions", tmp_path)


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_git_clone_of_a_local_repository(tmp_path):
    repo = make_extension(tmp_path / "remote", "sd-webui-cloned", **{"scripts/c.py": "C = 1\n"})
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t",
           "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    for command in (["init", "-q"], ["add", "."], ["commit", "-qm", "init"]):
        subprocess.run(["git", *command], cwd=repo, check=True, env=env)
    done = extension_install.install_from_git(f"file://{repo}", tmp_path / "extensions", tmp_path)
    assert done.extension.name == "sd-webui-cloned"
    assert (tmp_path / "extensions" / "sd-webui-cloned" / "scripts" / "c.py").read_text() == "C = 1\n"
    assert leftovers(tmp_path / "extensions") == ["sd-webui-cloned"]


def test_installing_is_refused_on_an_open_server_unless_allowed(tmp_path):
    assert extension_install.install_allowed(parse_args(["--data-dir", str(tmp_path)])) is None
    refused = extension_install.install_allowed(parse_args(["--data-dir", str(tmp_path), "--listen"]))
    assert refused and "--enable-insecure-extension-access" in refused
    allowed = parse_args(["--data-dir", str(tmp_path), "--listen", "--enable-insecure-extension-access"])
    assert extension_install.install_allowed(allowed) is None
