"""What A1111 extensions' install.py use from `launch` (`import launch`): `is_installed`,
`run_pip`, `run`, `python`, `git`. Standard library only; re-exported by launch.py.

install.py runs in Easel's venv (modules/extensions.py), so `run_pip` installs there.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import shlex
import subprocess
import sys

python = sys.executable
git = os.environ.get("GIT", "git")
index_url = os.environ.get("INDEX_URL", "")


def is_installed(package: str) -> bool:
    """Whether a distribution (pip name) or an importable module of that name is present."""
    try:
        importlib.metadata.distribution(package)
        return True
    except importlib.metadata.PackageNotFoundError:
        pass
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):
        return False


def run(command: str | list[str], desc: str | None = None, errdesc: str | None = None,
        custom_env: dict[str, str] | None = None, live: bool = True) -> str:
    """Run a command (a string goes through the shell, as in A1111); its output, or
    RuntimeError with `errdesc` and the output when it fails."""
    if desc:
        print(desc, flush=True)
    done = subprocess.run(command, shell=isinstance(command, str), env=custom_env or os.environ,
                          stdout=None if live else subprocess.PIPE, stderr=None if live else subprocess.PIPE,
                          text=True)
    if done.returncode != 0:
        parts = [f"{errdesc or 'Error running command'}.", f"Command: {command}",
                 f"Error code: {done.returncode}"]
        if not live:
            parts += [f"stdout: {done.stdout.strip()}", f"stderr: {done.stderr.strip()}"]
        raise RuntimeError("\n".join(parts))
    return "" if live else done.stdout or ""


def run_pip(command: str, desc: str | None = None, live: bool = False) -> str:
    """`pip <command>` in this venv, e.g. run_pip("install onnxruntime", "onnxruntime")."""
    args = shlex.split(command)
    if args[:1] == ["install"]:
        args += ["--prefer-binary", *(["--index-url", index_url] if index_url else [])]
    return run([python, "-m", "pip", *args, "--disable-pip-version-check"],
               desc=f"Installing {desc}" if desc else None, errdesc=f"Couldn't install {desc or command}", live=live)
