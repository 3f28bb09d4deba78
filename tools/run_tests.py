#!/usr/bin/env python3
"""Set up everything (venv + pinned requirements, via launch.py) and run the test suite.

    python tools/run_tests.py [pytest args]
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    subprocess.run([sys.executable, str(ROOT / "launch.py"), "--exit"], check=True, cwd=ROOT)
    in_venv = sys.prefix != sys.base_prefix
    python = sys.executable if in_venv else str(ROOT / "venv" / "bin" / "python")
    os.chdir(ROOT)
    os.execv(python, [python, "-m", "pytest", "tests", *sys.argv[1:]])


if __name__ == "__main__":
    main()
