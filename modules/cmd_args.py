"""Command-line flags, with AUTOMATIC1111's names and meanings, validated in one place.

Standard library only: launch.py parses these before anything is installed.
A bad flag or value is one clear line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
PRECISIONS = ("full", "half", "autocast", "bf16")
DEFAULT_PORT = 7860
DEFAULT_API_ONLY_PORT = 7861


class OneLineArgumentParser(argparse.ArgumentParser):
    """argparse prints usage plus the message; users need only the message."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def _port(value: str) -> int:
    port = _int(value)
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be between 1 and 65535, got {value}")
    return port


def _int(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None


def _device_id(value: str) -> int:
    device = _int(value)
    if device < 0:
        raise argparse.ArgumentTypeError(f"device id must be 0 or more, got {value}")
    return device


def _credentials(value: str) -> str:
    """`user:pass[,user2:pass2]` as A1111's --api-auth and --gradio-auth take it."""
    for pair in value.split(","):
        user, sep, password = pair.strip().partition(":")
        if not sep or not user or not password:
            raise argparse.ArgumentTypeError("expected user:password[,user2:password2]")
    return value


def _existing_file(value: str) -> str:
    if not Path(value).is_file():
        raise argparse.ArgumentTypeError(f"no such file: {value}")
    return value


def _existing_dir(value: str) -> str:
    if not Path(value).is_dir():
        raise argparse.ArgumentTypeError(f"no such directory: {value}")
    return value


def _writable_dir(value: str) -> str:
    """A data or models dir: created when missing, but must not be a file."""
    if Path(value).exists() and not Path(value).is_dir():
        raise argparse.ArgumentTypeError(f"not a directory: {value}")
    return value


def _loglevel(value: str) -> str:
    if value.upper() not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(f"expected one of {', '.join(LOG_LEVELS)}, got {value!r}")
    return value.upper()


def build_parser() -> argparse.ArgumentParser:
    p = OneLineArgumentParser(prog="launch.py", description="Easel: a local Stable Diffusion workbench.")
    install = p.add_argument_group("install")
    install.add_argument("--exit", action="store_true", help="install requirements, then exit")
    install.add_argument("--skip-install", action="store_true", help="do not create a venv or install requirements")

    server = p.add_argument_group("server")
    server.add_argument("--api", action="store_true", help="serve the HTTP API at /sdapi/v1 beside the UI")
    server.add_argument("--nowebui", action="store_true", help="serve the API only (default port 7861)")
    server.add_argument("--listen", action="store_true", help="listen on all interfaces (0.0.0.0)")
    server.add_argument("--server-name", default=None, help="host name or address to listen on")
    server.add_argument("--port", type=_port, default=None, help="port (default 7860, or 7861 with --nowebui)")
    server.add_argument("--api-auth", type=_credentials, default=None, help="user:pass[,user2:pass2] for the API")
    server.add_argument("--gradio-auth", type=_credentials, default=None, help="user:pass[,user2:pass2] for the UI")
    server.add_argument("--api-server-stop", action="store_true",
                        help="enable /sdapi/v1/server-kill, server-stop and server-restart")
    server.add_argument("--cors-allow-origins", default=None, help="comma-separated origins allowed by CORS")
    server.add_argument("--autolaunch", action="store_true", help="open the UI in the system browser")
    server.add_argument("--freeze-settings", action="store_true", help="refuse changes to settings")
    server.add_argument("--enable-insecure-extension-access", action="store_true",
                        help="allow installing extensions even with --listen")
    server.add_argument("--disable-extra-extensions", action="store_true",
                        help="do not load extensions from DATA_DIR/extensions (built-in ones still load)")
    server.add_argument("--disable-all-extensions", action="store_true", help="do not load any extension")
    server.add_argument("--loglevel", type=_loglevel, default="INFO", help="DEBUG, INFO, WARNING, ERROR")

    paths = p.add_argument_group("paths")
    paths.add_argument("--data-dir", type=_writable_dir, default=str(REPO_ROOT),
                       help="root for models, embeddings, extensions, outputs and settings")
    paths.add_argument("--models-dir", type=_writable_dir, default=None, help="models root (default DATA_DIR/models)")
    paths.add_argument("--ckpt-dir", type=_existing_dir, default=None, help="extra directory with checkpoints")
    paths.add_argument("--ckpt", type=_existing_file, default=None, help="checkpoint to load at start")
    paths.add_argument("--vae-dir", type=_existing_dir, default=None, help="directory with VAE files")
    paths.add_argument("--lora-dir", type=_existing_dir, default=None, help="directory with LoRA files")
    paths.add_argument("--embeddings-dir", type=_writable_dir, default=None, help="textual-inversion embeddings")
    paths.add_argument("--styles-file", default=None, help="styles CSV (default DATA_DIR/styles.csv)")
    paths.add_argument("--ui-settings-file", default=None, help="settings JSON (default DATA_DIR/config.json)")
    paths.add_argument("--no-demo-model", action="store_true", help="hide the bundled shapes-demo checkpoint")

    device = p.add_argument_group("device and precision")
    device.add_argument("--use-cpu", nargs="+", default=[], metavar="MODULE",
                        help="run these modules on the CPU ('all' for everything)")
    device.add_argument("--device-id", type=_device_id, default=None, help="CUDA device index")
    device.add_argument("--precision", choices=PRECISIONS, default="autocast",
                        help="'full' = fp32, 'half'/'autocast' = fp16 on GPU, 'bf16' = bfloat16 on GPU")
    device.add_argument("--no-half", action="store_true", help="keep all weights in fp32")
    device.add_argument("--no-half-vae", action="store_true", help="keep the VAE in fp32")
    device.add_argument("--upcast-sampling", action="store_true", help="half weights, fp32 sampling math")
    device.add_argument("--medvram", action="store_true", help="move whole models to the GPU only while used")
    device.add_argument("--medvram-sdxl", action="store_true", help="--medvram for SDXL checkpoints only")
    device.add_argument("--sd3-no-t5", action="store_true",
                        help="SD3: do not load the T5-XXL text encoder (less memory; CLIP-L/G only)")
    device.add_argument("--lowvram", action="store_true", help="move layers to the GPU one at a time")
    device.add_argument("--disable-safe-unpickle", action="store_true",
                        help="DANGEROUS: let .ckpt files run arbitrary pickle code")
    return p


def _preload_extensions(parser: argparse.ArgumentParser, argv: list[str]) -> None:
    """Extensions' preload.py add their flags before the command line is parsed (A1111): the
    data dir and the disable switches are read first, leniently, to find them."""
    from modules.extensions import preload_extensions

    early = argparse.ArgumentParser(add_help=False)
    early.add_argument("--data-dir", default=str(REPO_ROOT))
    early.add_argument("--disable-all-extensions", action="store_true")
    early.add_argument("--disable-extra-extensions", action="store_true")
    known, _ = early.parse_known_args(argv)
    disable = "all" if known.disable_all_extensions else "extra" if known.disable_extra_extensions else "none"
    preload_extensions(parser, Path(known.data_dir).resolve(), disable)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    _preload_extensions(parser, argv)
    args = parser.parse_args(argv)
    if args.medvram and args.lowvram:
        parser.error("--medvram and --lowvram exclude each other; choose one")
    if args.listen and args.server_name:
        parser.error("--listen and --server-name exclude each other; choose one")
    args.data_dir = os.path.abspath(args.data_dir)
    return args


def server_address(args: argparse.Namespace) -> tuple[str, int]:
    host = "0.0.0.0" if args.listen else (args.server_name or "127.0.0.1")
    port = args.port or (DEFAULT_API_ONLY_PORT if args.nowebui else DEFAULT_PORT)
    return host, port


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def open_access_warning(args: argparse.Namespace) -> str | None:
    """What to warn about when the server is reachable from other machines (--listen or a
    non-loopback --server-name) and a face it serves has no password; None when safe."""
    host, _ = server_address(args)
    if host in LOOPBACK_HOSTS or host.startswith("127."):
        return None
    api_served = args.api or args.nowebui
    open_faces = [name for name, served, auth in (("the API", api_served, args.api_auth),
                                                  ("the web UI", not args.nowebui, args.gradio_auth))
                  if served and not auth]
    if not open_faces:
        return None
    flags = " and ".join(flag for flag, face in (("--api-auth", "the API"), ("--gradio-auth", "the web UI"))
                         if face in open_faces)
    return (f"serving on {host} with no password for {' and '.join(open_faces)}: anyone on your network can "
            f"use it; set {flags} user:password")


def parse_credentials(value: str | None) -> dict[str, str]:
    """`user:pass,user2:pass2` → {user: pass}; already validated by the parser."""
    if not value:
        return {}
    pairs = (pair.strip().partition(":") for pair in value.split(","))
    return {user: password for user, _, password in pairs}
