import subprocess
import sys

import pytest

from modules.cmd_args import REPO_ROOT, open_access_warning, parse_args, parse_credentials, server_address


def run_launcher(*flags: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO_ROOT / "launch.py"), *flags],
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("flags, message", [
    (["--bogus-flag"], "unrecognized arguments: --bogus-flag"),
    (["--port", "99999"], "port must be between 1 and 65535"),
    (["--port", "abc"], "expected a whole number"),
    (["--api-auth", "nopassword"], "expected user:password"),
    (["--precision", "double"], "invalid choice"),
    (["--ckpt", "/no/such/model.safetensors"], "no such file"),
    (["--loglevel", "LOUD"], "expected one of"),
    (["--medvram", "--lowvram"], "exclude each other"),
])
def test_bad_flags_give_one_line_and_exit_code_2(flags, message):
    result = run_launcher(*flags)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert message in lines[0]
    assert result.stdout == ""


def test_defaults_match_a1111():
    args = parse_args([])
    assert server_address(args) == ("127.0.0.1", 7860)
    assert not args.api and not args.nowebui and args.precision == "autocast"


def test_nowebui_defaults_to_port_7861_and_listen_binds_all_interfaces():
    assert server_address(parse_args(["--nowebui"])) == ("127.0.0.1", 7861)
    assert server_address(parse_args(["--listen", "--port", "9000"])) == ("0.0.0.0", 9000)
    assert server_address(parse_args(["--server-name", "localhost"])) == ("localhost", 7860)


def test_every_a1111_flag_of_the_foundation_is_accepted(tmp_path):
    ckpt = tmp_path / "m.safetensors"
    ckpt.write_bytes(b"x")
    args = parse_args([
        "--exit", "--skip-install", "--api", "--nowebui", "--listen", "--port", "8000",
        "--data-dir", str(tmp_path), "--models-dir", str(tmp_path / "models"), "--ckpt-dir", str(tmp_path),
        "--ckpt", str(ckpt), "--vae-dir", str(tmp_path), "--lora-dir", str(tmp_path),
        "--embeddings-dir", str(tmp_path / "emb"), "--styles-file", str(tmp_path / "s.csv"),
        "--ui-settings-file", str(tmp_path / "c.json"), "--api-auth", "a:b,c:d", "--gradio-auth", "u:p",
        "--medvram", "--medvram-sdxl", "--no-half", "--no-half-vae", "--upcast-sampling", "--precision", "full",
        "--use-cpu", "all", "--device-id", "0", "--disable-safe-unpickle", "--enable-insecure-extension-access",
        "--cors-allow-origins", "http://x", "--autolaunch", "--freeze-settings", "--loglevel", "debug",
    ])
    assert args.loglevel == "DEBUG" and args.use_cpu == ["all"] and args.device_id == 0


def test_credentials_parse_to_a_user_map():
    assert parse_credentials("a:b, c:d:e") == {"a": "b", "c": "d:e"}
    assert parse_credentials(None) == {}


@pytest.mark.parametrize("flags, warned", [
    ([], None),
    (["--api"], None),  # loopback only: nobody else can reach it
    (["--server-name", "localhost", "--api"], None),
    (["--listen"], "the web UI"),
    (["--listen", "--api"], "the API and the web UI"),
    (["--listen", "--api", "--gradio-auth", "a:b"], "the API"),  # the UI password does not cover the API
    (["--listen", "--nowebui"], "the API"),
    (["--server-name", "192.168.1.5", "--api", "--api-auth", "a:b"], "the web UI"),
    (["--listen", "--api", "--api-auth", "a:b", "--gradio-auth", "c:d"], None),
    (["--listen", "--nowebui", "--api-auth", "a:b"], None),
])
def test_open_access_is_warned_about_naming_what_lacks_a_password(flags, warned):
    warning = open_access_warning(parse_args(flags))
    if warned is None:
        assert warning is None
    else:
        assert f"no password for {warned}:" in warning
        assert ("--api-auth" in warning) == ("API" in warned) and ("--gradio-auth" in warning) == ("UI" in warned)
