from modules.cmd_args import parse_args
from modules.paths import DataPaths


def test_data_dir_holds_everything_a1111_puts_there(tmp_path):
    paths = DataPaths.from_args(parse_args(["--data-dir", str(tmp_path)]))
    paths.create_dirs()
    for sub in ("models/Stable-diffusion", "models/VAE", "models/Lora", "models/ESRGAN", "models/GFPGAN",
                "models/Codeformer", "embeddings", "extensions", "outputs"):
        assert (tmp_path / sub).is_dir(), sub
    assert paths.config_file == tmp_path / "config.json"
    assert paths.ui_config_file == tmp_path / "ui-config.json"
    assert paths.styles_file == tmp_path / "styles.csv"
    assert paths.cache_file == tmp_path / "cache.json"
    assert paths.resolve("outputs/txt2img-images") == tmp_path / "outputs" / "txt2img-images"


def test_dir_flags_override_the_data_dir(tmp_path):
    (tmp_path / "ckpts").mkdir()
    args = parse_args(["--data-dir", str(tmp_path / "d"), "--models-dir", str(tmp_path / "m"),
                       "--ckpt-dir", str(tmp_path / "ckpts"), "--embeddings-dir", str(tmp_path / "e"),
                       "--ui-settings-file", str(tmp_path / "s.json"), "--styles-file", str(tmp_path / "st.csv")])
    paths = DataPaths.from_args(args)
    assert paths.sd_models_dir == tmp_path / "m" / "Stable-diffusion"
    assert paths.extra_ckpt_dir == tmp_path / "ckpts"
    assert paths.embeddings_dir == tmp_path / "e"
    assert paths.config_file == tmp_path / "s.json" and paths.styles_file == tmp_path / "st.csv"
