#!/usr/bin/env python3
"""Install and start Easel: the one entry point a newcomer uses.

    python launch.py [flags]     # creates ./venv, installs pinned requirements, serves :7860

Outside a virtualenv, ./venv is created and this script re-runs itself with it. The
requirements are installed again only when requirements.txt changes (a sha256 stamp in
the venv). Standard library only until the app starts: nothing heavy is imported here.
When the app exits asking for a restart (/sdapi/v1/server-restart), this script runs again.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV_DIR = ROOT / "venv"
REQUIREMENTS = ROOT / "requirements.txt"
STAMP = ".easel-requirements.sha256"
sys.path.insert(0, str(ROOT))

# what A1111 extensions' install.py call as launch.is_installed / launch.run_pip / launch.run
from modules.launch_utils import git, index_url, is_installed, python, run, run_pip  # noqa: E402,F401


def in_virtualenv() -> bool:
    return sys.prefix != sys.base_prefix


def venv_python() -> Path:
    return VENV_DIR / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def enter_venv(argv: list[str]) -> None:
    """Create ./venv if needed and re-run this script inside it (does not return)."""
    if not venv_python().exists():
        print(f"Creating virtual environment in {VENV_DIR}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV_DIR)
    os.execv(str(venv_python()), [str(venv_python()), str(ROOT / "launch.py"), *argv])


def requirements_digest() -> str:
    return hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()


def install_requirements() -> None:
    stamp = Path(sys.prefix) / STAMP
    digest = requirements_digest()
    if stamp.is_file() and stamp.read_text().strip() == digest:
        return
    print("Installing requirements (first run, or requirements.txt changed)…", flush=True)
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "pip", "install", "--disable-pip-version-check",
                             "-r", str(REQUIREMENTS)])
    if result.returncode != 0:
        sys.exit(f"launch.py: error: installing requirements failed (pip exit code {result.returncode})")
    stamp.write_text(digest + "\n")
    print(f"Requirements installed in {time.perf_counter() - started:.0f}s", flush=True)


def restart(argv: list[str]) -> None:
    """Replace this process with a fresh run of launch.py on the same flags (does not return).
    Same process id, so whatever started us (a terminal, a service manager) keeps its handle."""
    print("Restarting Easel…", flush=True)
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, str(ROOT / "launch.py"), *argv])


def main() -> None:
    from modules.cmd_args import parse_args

    argv = sys.argv[1:]
    args = parse_args(argv)
    if not args.skip_install:
        if not in_virtualenv():
            enter_venv(argv)
        install_requirements()
    if args.exit:
        print("Installation done (--exit).")
        return
    import webui

    exit_code = webui.main(argv, restartable=True)
    if exit_code == webui.RESTART_EXIT_CODE:
        restart(argv)
    sys.exit(exit_code)


if __name__ == "__main__":
    main()
