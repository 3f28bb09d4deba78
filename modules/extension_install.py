"""Installing an extension: from a local folder, a .zip file or a git URL.

Each install builds the extension in a hidden temp folder inside extensions/ and renames it
into place only when complete, so a failure (bad zip, clone error, offline) leaves nothing
half-written. An existing extension is never overwritten. install.py runs right after.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import stat
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from modules import extensions

MAX_ZIP_BYTES = 2 * 1024**3  # uncompressed: refuse zip bombs
GIT_TIMEOUT_SECONDS = 300
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ +-]*$")
_GIT_URL = re.compile(r"^(https?|git|ssh|file)://\S+$|^[\w.-]+@[\w.-]+:\S+$")


class ExtensionInstallError(ValueError):
    """An install that cannot go ahead; the message says why and what to do."""


@dataclass(frozen=True)
class Installed:
    extension: extensions.Extension
    install: extensions.InstallRun

    def message(self) -> str:
        text = f"Installed {self.extension.name} into {self.extension.path}."
        if self.install.ran and not self.install.ok:
            text += " Its install.py failed (see the problems list)."
        elif self.install.ran:
            text += " Its install.py ran."
        return text + " Restart Easel to load it."


def install_allowed(args: Any) -> str | None:
    """None when installing is allowed; else why not (A1111: a server reachable from the
    network installs extensions only with --enable-insecure-extension-access)."""
    exposed = getattr(args, "listen", False) or getattr(args, "server_name", None)
    if exposed and not getattr(args, "enable_insecure_extension_access", False):
        return ("installing extensions is off on a server reachable from the network (--listen / --server-name); "
                "start with --enable-insecure-extension-access to allow it")
    return None


def check_name(name: str) -> str:
    name = name.strip()
    if not _NAME.match(name) or name in (".", ".."):
        raise ExtensionInstallError(f"extension name {name!r} is not a valid folder name "
                                    "(letters, digits, '.', '_', '-', '+' and spaces; not starting with '.')")
    return name


def _target(extensions_dir: Path, name: str) -> Path:
    target = Path(extensions_dir) / check_name(name)
    if target.exists():
        raise ExtensionInstallError(f"extension {name!r} is already installed at {target}; remove that folder "
                                    "first to install it again")
    return target


def _staging(extensions_dir: Path) -> Path:
    Path(extensions_dir).mkdir(parents=True, exist_ok=True)
    return Path(extensions_dir) / f".installing-{secrets.token_hex(6)}"


def _finish(staging: Path, target: Path, data_dir: Path) -> Installed:
    """Move a complete build into place and run its install.py."""
    if target.exists():  # raced with another install of the same name
        shutil.rmtree(staging, ignore_errors=True)
        raise ExtensionInstallError(f"extension {target.name!r} is already installed at {target}")
    os.replace(staging, target)
    ext = next(e for e in extensions.list_extensions(target.parent, data_dir) if e.path == target)
    return Installed(ext, extensions.run_installer(ext, data_dir, force=True))


def install_from_folder(source: str | Path, extensions_dir: Path, data_dir: Path, name: str | None = None) -> Installed:
    """Copy a local extension folder into extensions/ (symlinks are copied as links)."""
    source = Path(source).expanduser()
    if not source.is_dir():
        raise ExtensionInstallError(f"no such folder: {source}")
    try:
        source.resolve().relative_to(Path(extensions_dir).resolve())
    except ValueError:
        pass
    else:
        raise ExtensionInstallError(f"{source} is already inside {extensions_dir}")
    target = _target(extensions_dir, name or source.name)
    staging = _staging(extensions_dir)
    try:
        shutil.copytree(source, staging, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
    except (OSError, shutil.Error) as e:
        shutil.rmtree(staging, ignore_errors=True)
        raise ExtensionInstallError(f"could not copy {source}: {e}") from None
    return _finish(staging, target, data_dir)


def _member_path(info: zipfile.ZipInfo) -> PurePosixPath:
    """A zip entry's relative path; refuses entries that would land outside the extension."""
    raw = info.filename.replace("\\", "/")
    path = PurePosixPath(raw)
    if raw.startswith("/") or re.match(r"^[A-Za-z]:", raw) or ".." in path.parts:
        raise ExtensionInstallError(f"the zip file is unsafe: entry {info.filename!r} points outside the extension "
                                    "folder; nothing was installed")
    if stat.S_ISLNK(info.external_attr >> 16):
        raise ExtensionInstallError(f"the zip file is unsafe: entry {info.filename!r} is a symbolic link; "
                                    "nothing was installed")
    return path


def install_from_zip(zip_file: str | Path, extensions_dir: Path, data_dir: Path, name: str | None = None) -> Installed:
    """Unpack an extension zip. One top-level folder (as GitHub's "Download ZIP" makes) is the
    extension itself and names it; otherwise the zip's own name does."""
    zip_file = Path(zip_file)
    try:
        archive = zipfile.ZipFile(zip_file)
    except (zipfile.BadZipFile, OSError) as e:
        raise ExtensionInstallError(f"{zip_file.name} is not a readable zip file: {e}") from None
    with archive:
        entries = [(info, _member_path(info)) for info in archive.infolist()]
        files = [(info, path) for info, path in entries if not info.is_dir() and path.parts]
        if not files:
            raise ExtensionInstallError(f"{zip_file.name} is empty; nothing was installed")
        if sum(info.file_size for info, _ in files) > MAX_ZIP_BYTES:
            raise ExtensionInstallError(f"{zip_file.name} unpacks to more than {MAX_ZIP_BYTES // 1024**3} GiB; "
                                        "nothing was installed")
        tops = {path.parts[0] for _, path in entries if path.parts}
        single = len(tops) == 1 and all(len(path.parts) > 1 for _, path in files)
        default_name = next(iter(tops)) if single else zip_file.stem
        target = _target(extensions_dir, name or default_name)
        staging = _staging(extensions_dir)
        try:
            for info, path in files:
                relative = PurePosixPath(*path.parts[1:]) if single else path
                out = staging.joinpath(*relative.parts)
                out.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(info) as src, open(out, "wb") as dst:
                    shutil.copyfileobj(src, dst)
        except (OSError, zipfile.BadZipFile, EOFError, RuntimeError) as e:  # RuntimeError: encrypted entries
            shutil.rmtree(staging, ignore_errors=True)
            raise ExtensionInstallError(f"could not unpack {zip_file.name}: {e}; nothing was installed") from None
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return _finish(staging, target, data_dir)


def name_from_url(url: str) -> str:
    last = url.rstrip("/").replace(":", "/").split("/")[-1]
    return last[:-4] if last.endswith(".git") else last


def install_from_git(url: str, extensions_dir: Path, data_dir: Path, name: str | None = None,
                     branch: str | None = None) -> Installed:
    """`git clone` (shallow) a URL into extensions/. Offline or a wrong URL: a clear error,
    and the partial clone is removed."""
    url = (url or "").strip()
    if not _GIT_URL.match(url):
        raise ExtensionInstallError(f"{url!r} is not a git URL (expected https://…, ssh://…, git@host:path or "
                                    "file://…)")
    git = shutil.which("git")
    if git is None:
        raise ExtensionInstallError("git is not installed: install git, or download the extension as a zip and "
                                    "install it from the file")
    target = _target(extensions_dir, name or name_from_url(url))
    staging = _staging(extensions_dir)
    command = [git, "clone", "--depth", "1", *(["--branch", branch.strip()] if branch and branch.strip() else []),
               "--", url, str(staging)]
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "", "SSH_ASKPASS": ""}
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=GIT_TIMEOUT_SECONDS, env=env,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        shutil.rmtree(staging, ignore_errors=True)
        raise ExtensionInstallError(f"cloning {url} took longer than {GIT_TIMEOUT_SECONDS} s; nothing was "
                                    "installed (check the network)") from None
    if done.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
        reason = next((line for line in reversed(lines) if line.startswith(("fatal:", "error:"))),
                      lines[-1] if lines else f"git exited with status {done.returncode}")
        hint = " Is this computer online?" if _looks_offline(reason) else ""
        raise ExtensionInstallError(f"could not clone {url}: {reason}.{hint} Nothing was installed.")
    return _finish(staging, target, data_dir)


def _looks_offline(reason: str) -> bool:
    text = reason.lower()
    return any(s in text for s in ("could not resolve", "unable to access", "network is unreachable",
                                   "connection timed out", "failed to connect", "couldn't connect"))
