"""A1111 file name patterns, sanitising and the NNNNN counter."""

import datetime
import hashlib

import pytest
from PIL import Image

from modules.images import FilenameData, FilenamePattern, NamingRules, get_next_sequence_number, sanitize_filename_part
from modules.images.filenames import truncate_to_bytes

NOW = datetime.datetime(2024, 3, 9, 14, 5, 7, tzinfo=datetime.timezone.utc)
DATA = FilenameData(
    seed=1234, prompt="a cute cat, (masterpiece:1.2), by artist", negative_prompt="ugly",
    steps=20, cfg_scale=7.5, sampler="DPM++ 2M", scheduler="karras", model_name="v1-5-pruned",
    model_hash="6ce0161689", job_timestamp="20240309140507", now=NOW,
)
IMAGE = Image.new("RGB", (64, 48), (1, 2, 3))


def fill(pattern, data=DATA, image=IMAGE, rules=NamingRules()):
    return FilenamePattern(data, image, rules).apply(pattern)


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("[seed]", "1234"),
        ("[SEED]-[Steps]", "1234-20"),  # names are case-insensitive
        ("[prompt]", "a_cute_cat,_(masterpiece_1.2),_by_artist"),
        ("[prompt_spaces]", "a cute cat, (masterpiece_1.2), by artist"),
        ("[prompt_words]", "a cute cat masterpiece 1 2 by artist"),
        ("[prompt_no_styles]", "a cute cat, (masterpiece_1.2), by artist"),
        ("[steps]-[cfg]", "20-7.5"),
        ("[width]x[height]", "64x48"),
        ("[sampler]", "DPM++ 2M"),
        ("[scheduler]", "Karras"),
        ("[sampler_scheduler]", "DPM++ 2M Karras"),
        ("[model_name]-[model_hash]", "v1-5-pruned-6ce0161689"),
        ("[date]", "2024-03-09"),
        ("[datetime<%Y_%m_%d %H-%M>]", "2024_03_09 14-05"),
        ("[datetime<%H><Asia/Tokyo>]", "23"),
        ("[datetime<%H><No/Such_Zone>]", NOW.astimezone().strftime("%H")),
        ("[datetime<>]", NOW.astimezone().strftime("%Y%m%d%H%M%S")),
        ("[job_timestamp]", "20240309140507"),
        ("[prompt_hash]", hashlib.sha256(DATA.prompt.encode()).hexdigest()[:8]),
        ("[prompt_hash<4>]", hashlib.sha256(DATA.prompt.encode()).hexdigest()[:4]),
        ("[negative_prompt_hash]", hashlib.sha256(b"ugly").hexdigest()[:8]),
        ("[full_prompt_hash]", hashlib.sha256(f"{DATA.prompt} ugly".encode()).hexdigest()[:8]),
        ("[image_hash<10>]", hashlib.sha256(IMAGE.tobytes()).hexdigest()[:10]),
        ("[hasprompt<cat|nocat><dog|nodog><bird>]", "catnodog"),
        ("[none]", ""),
        ("[styles]", "None"),
        ("[vae_filename]", "NoneType"),
        ("[basename]", "img"),
        ("x-[unknown_thing]-y", "x-[unknown_thing]-y"),  # unknown names stay as written
        ("[clip_skip]", "[clip_skip]"),  # unknown value stays as written, as A1111 without p
        ("plain text", "plain text"),
    ],
)
def test_pattern_replacements(pattern, expected):
    assert fill(pattern) == expected


def test_batch_and_generation_numbers_drop_text_before_them_for_single_images():
    assert fill("[seed]-[batch_number]-[generation_number]") == "1234"
    data = FilenameData(seed=5, batch_size=4, batch_index=2, iteration=1, n_iter=3)
    assert fill("[seed]-[batch_number]-[generation_number]", data) == "5-3-7"
    assert fill("[batch_size]", data) == "4"


def test_denoising_seed_first_last_and_more_data():
    data = FilenameData(seed=11, denoising_strength=0.75, batch_size=3, all_seeds=[10, 11, 12], clip_skip=2,
                        styles=["Cinematic", "None", "Anime: bold"], vae_filename="/m/VAE/.hidden.vae.pt",
                        prompt_no_styles="cat", prompt="cat, cinematic", user="bob/evil")
    assert fill("[seed_first]-[seed_last]-[denoising]-[clip_skip]", data) == "10-12-0.75-2"
    assert fill("[seed]-[denoising]", FilenameData(seed=1)) == "1"
    assert fill("[styles]", data) == "Cinematic, Anime_ bold"
    assert fill("[vae_filename]", data) == "hidden"
    assert fill("[prompt_no_styles]", data) == "cat"
    assert fill("[user]", data) == "bob_evil"


def test_prompt_words_limits_and_empty():
    long_prompt = FilenameData(prompt="one two three four five six seven eight nine ten")
    assert fill("[prompt_words]", long_prompt) == "one two three four five six seven eight"
    assert fill("[prompt_words]", long_prompt, rules=NamingRules(max_prompt_words=2)) == "one two"
    assert fill("[prompt_words]", FilenameData(prompt=",,, !!")) == "empty"


def test_bad_pattern_arguments_raise_naming_the_pattern():
    with pytest.raises(ValueError, match=r"\[seed<3>\]"):
        fill("[seed<3>]")
    with pytest.raises(ValueError, match="prompt_hash"):
        fill("[prompt_hash<abc>]")


@pytest.mark.parametrize(
    ("text", "replace_spaces", "expected"),
    [
        ('a<b>c:d"e/f\\g|h?i*j#k\nl\rm\tn', True, "a_b_c_d_e_f_g_h_i_j_k_l_m_n"),
        ("hello world", True, "hello_world"),
        ("hello world", False, "hello world"),
        ("   leading", False, "leading"),
        ("trailing. . ", False, "trailing"),
        ("nul\x00byte", False, "nul_byte"),
        (None, True, None),
    ],
)
def test_sanitize_filename_part(text, replace_spaces, expected):
    assert sanitize_filename_part(text, replace_spaces) == expected


def test_sanitize_length_and_unix_mode():
    assert sanitize_filename_part("x" * 300) == "x" * 128
    assert sanitize_filename_part("a" * 10, max_length=4) == "aaaa"
    assert sanitize_filename_part('a:b*c/d', False, unix=True) == "a:b*c_d"


def test_truncate_to_bytes_never_splits_a_character():
    assert truncate_to_bytes("猫猫猫", 7) == "猫猫"
    assert truncate_to_bytes("abc", 10) == "abc"


def test_next_sequence_number(tmp_path):
    assert get_next_sequence_number(tmp_path / "missing") == 0
    assert get_next_sequence_number(tmp_path) == 0
    for name in ["00000-1.png", "00007-12-cat.png", "00003.jpg", "notes.txt", "grid-0003.png", ".easel-ab.tmp", "abc-5.png"]:
        (tmp_path / name).write_bytes(b"")
    assert get_next_sequence_number(tmp_path) == 8
    assert get_next_sequence_number(tmp_path, "grid") == 4
    assert get_next_sequence_number(tmp_path, "abc") == 6
    assert get_next_sequence_number(tmp_path, "none") == 0
