"""Property: parse_infotext(build_infotext(...)) gives back every field and the prompts."""

import re

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from modules.images import build_infotext, parse_infotext

# Characters that stress the format, mixed with arbitrary unicode (no lone surrogates).
TRICKY = [",", ":", '"', "\n", "(", ")", "[", "]", "<", ">", "\\", " ", "\t", "\r", "'", "=", "{", "}", "x", "1"]
FRAGMENTS = ["Steps: 20", "Size: 512x512", "Negative prompt", "a: b, c: d, e: f", "\\n", '\\"', "512x512", "\u2028"]
text_piece = st.one_of(st.characters(blacklist_categories=("Cs",)), st.sampled_from(TRICKY), st.sampled_from(FRAGMENTS))
free_text = st.lists(text_piece, max_size=25).map("".join)

# Keys whose presence makes A1111's parser change *other* fields (prompt, size) or add flags.
SPECIAL_KEYS = {
    "Prompt", "Negative prompt", "Hypernet", "First pass size", "Version",
    "Old prompt editing timelines", "Pad conds v0", "Downcast alphas_cumprod", "Refiner switch by sampling steps",
}
SIZE_RE = re.compile(r"(\d+)x(\d+)")
keys = st.from_regex(r"\w[\w \-/]{0,14}[\w\-/]", fullmatch=True).filter(
    lambda k: k not in SPECIAL_KEYS and not k.endswith(("-1", "-2"))
)
values = st.one_of(
    free_text,
    free_text.map(lambda text: f'"{text}"'),  # looks already quoted
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.tuples(st.integers(0, 5000), st.integers(0, 5000)).map(lambda wh: f"{wh[0]}x{wh[1]}"),
)


def without_negative_prefix_lines(text: str) -> bool:
    return not any(line.strip().startswith("Negative prompt:") for line in text.split("\n"))


def canonical_prompt(text: str) -> str:
    """What the A1111 format keeps of a prompt: lines stripped, leading blank lines dropped."""
    lines = [line.strip() for line in text.split("\n")]
    while lines and lines[0] == "":
        lines.pop(0)
    return "\n".join(lines)


def expected_entries(fields: dict) -> dict:
    expected = {}
    for key, value in fields.items():
        text = str(value)
        size = SIZE_RE.fullmatch(text)
        if text == key:
            expected[key] = key  # flag
        elif size:
            expected[f"{key}-1"], expected[f"{key}-2"] = size.groups()
        else:
            expected[key] = text
    return expected


@st.composite
def infotext_inputs(draw):
    # Three fixed key/value fields so the last line always reads as parameters (A1111 needs >= 3).
    fields = {
        "Steps": draw(values.filter(lambda v: str(v) != "Steps")),
        "Sampler": draw(values.filter(lambda v: str(v) != "Sampler")),
        "Seed": draw(values.filter(lambda v: str(v) != "Seed")),
    }
    for key, value in draw(st.dictionaries(keys, values, max_size=8)).items():
        fields.setdefault(key, value)
    if draw(st.booleans()) and len(fields) > 3:  # sometimes a flag (value equal to its key)
        flag_key = list(fields)[-1]
        fields[flag_key] = flag_key
    prompt = draw(free_text.filter(without_negative_prefix_lines))
    negative = draw(free_text.filter(without_negative_prefix_lines))
    return prompt, negative, fields


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(infotext_inputs())
@example(("a\n  b  \n\n", " \nneg ", {"Steps": '"x"', "Sampler": "", "Seed": " 1", "Size": "64x32", "Tiling": "Tiling"}))
def test_round_trip_is_lossless_for_every_field(inputs):
    prompt, negative, fields = inputs
    parsed = parse_infotext(build_infotext(prompt, negative, fields))
    assert parsed["Prompt"] == canonical_prompt(prompt)
    assert parsed["Negative prompt"] == canonical_prompt(negative)
    for key, value in expected_entries(fields).items():
        assert parsed[key] == value, key


@settings(max_examples=200, deadline=None, database=None)
@given(st.dictionaries(keys, values, min_size=3, max_size=10))
def test_round_trip_of_fields_without_prompts(fields):
    fields = {k: v for k, v in fields.items() if str(v) != k}
    if len(fields) < 3:
        return
    parsed = parse_infotext(build_infotext("", "", fields))
    assert parsed["Prompt"] == "" and parsed["Negative prompt"] == ""
    for key, value in expected_entries(fields).items():
        assert parsed[key] == value, key
