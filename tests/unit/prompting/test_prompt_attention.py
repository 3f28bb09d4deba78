import pytest

from modules.prompting import BREAK_MARKER, parse_prompt_attention


def parsed(text):
    return [(run.text, run.weight) for run in parse_prompt_attention(text)]


def test_plain_text_has_weight_one():
    assert parsed("normal text") == [("normal text", 1.0)]


def test_round_brackets_multiply_by_1_1_and_nest():
    assert parsed("(a)") == [("a", 1.1)]
    assert parsed("((a))") == [("a", 1.1 * 1.1)]
    assert parsed("((a))")[0][1] == pytest.approx(1.21)


def test_square_brackets_divide_by_1_1():
    assert parsed("[a]") == [("a", 1 / 1.1)]
    assert parsed("[[a]]") == [("a", 1 / 1.1 / 1.1)]


def test_explicit_weight_replaces_the_default_multiplier():
    assert parsed("(a:1.3)") == [("a", 1.3)]
    assert parsed("(a: 0.5 )") == [("a", 0.5)]
    assert parsed("((a:1.3))") == [("a", 1.3 * 1.1)]


def test_a1111_reference_example():
    assert parsed("a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).") == [
        ("a ", 1.0),
        ("house", 1.3 * 1.1 * 1.1),
        (" ", 1.1),
        ("on", 1.0),
        (" a ", 1.1),
        ("hill", 0.55),
        (", sun, ", 1.1),
        ("sky", 1.1 * 1.1 * 1.1 * 1.1),
        (".", 1.1),
    ]


def test_escapes_are_literal_characters():
    assert parsed(r"\(literal\]") == [("(literal]", 1.0)]
    assert parsed(r"a \\ b") == [("a \\ b", 1.0)]
    assert parsed(r"\[x\] \(y\)") == [("[x] (y)", 1.0)]


def test_unbalanced_opening_bracket_applies_to_the_rest():
    assert parsed("a (unbalanced") == [("a ", 1.0), ("unbalanced", 1.1)]
    assert parsed("a [unbalanced") == [("a ", 1.0), ("unbalanced", 1 / 1.1)]


def test_unmatched_closing_bracket_is_literal():
    assert parsed("a) b]") == [("a) b]", 1.0)]


def test_colon_outside_weight_is_text():
    assert parsed("time: 5 o'clock") == [("time: 5 o'clock", 1.0)]


def test_adjacent_runs_with_equal_weights_merge():
    assert parsed("(unnecessary)(parens)") == [("unnecessaryparens", 1.1)]


def test_break_becomes_a_marker():
    runs = parse_prompt_attention("a BREAK b")
    assert runs == [("a", 1.0), BREAK_MARKER, ("b", 1.0)]
    assert runs[1].is_break
    assert not parse_prompt_attention("BREAKFAST")[0].is_break


def test_empty_prompt_is_one_empty_run():
    assert parsed("") == [("", 1.0)]


def test_unreadable_weight_is_a_clear_error():
    with pytest.raises(ValueError, match="1.2.3"):
        parse_prompt_attention("(a:1.2.3)")
