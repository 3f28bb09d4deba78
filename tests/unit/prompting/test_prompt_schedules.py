import pytest

from modules.prompting import prompt_schedule, prompt_schedules


def schedule(prompt, steps=10, hires_steps=None, legacy=False):
    return [tuple(entry) for entry in prompt_schedule(prompt, steps, hires_steps, legacy)]


def test_plain_prompt_is_one_entry():
    assert schedule("test") == [(10, "test")]


def test_to_when_absolute_step():
    assert schedule("a [b:3]") == [(3, "a "), (10, "a b")]
    assert schedule("a [b: 3]") == [(3, "a "), (10, "a b")]


def test_from_to_when_and_from_empty():
    assert schedule("a [b : c : 1] d") == [(1, "a b  d"), (10, "a  c  d")]
    assert schedule("a [b::4] c") == [(4, "a b c"), (10, "a  c")]


def test_fraction_of_steps():
    assert schedule("a [b:.5] c") == [(5, "a  c"), (10, "a b c")]
    assert schedule("[mountain:lake:0.25]", steps=20) == [(5, "mountain"), (20, "lake")]


def test_when_is_truncated_and_clamped_to_steps():
    assert schedule("[a:b:0.25]") == [(2, "a"), (10, "b")]
    assert schedule("[a:b:15]") == [(10, "a")]


def test_nested_schedules():
    assert schedule("a[b:[c:d:2]:1]e") == [(1, "abe"), (2, "ace"), (10, "ade")]


def test_emphasis_inside_schedule_is_kept_as_text():
    assert schedule("[(a:2):3]") == [(3, ""), (10, "(a:2)")]
    assert schedule("a [[[b]]:2]") == [(2, "a "), (10, "a [[b]]")]


def test_unbalanced_brackets_stay_literal():
    assert schedule("a [unbalanced") == [(10, "a [unbalanced")]
    assert schedule("((a][:b:c [d:3]") == [(3, "((a][:b:c "), (10, "((a][:b:c d")]


def test_alternation_cycles_every_step():
    assert schedule("[a|(b:1.1)]", steps=4) == [(1, "a"), (2, "(b:1.1)"), (3, "a"), (4, "(b:1.1)")]
    assert schedule("[fe|]male", steps=3) == [(1, "female"), (2, "male"), (3, "female")]
    assert schedule("[fe|||]male", steps=5) == [(1, "female"), (2, "male"), (3, "male"), (4, "male"), (5, "female")]


def test_stray_pipe_leaves_prompt_unscheduled():
    assert schedule("a | b [c:2]") == [(10, "a | b [c:2]")]


def test_hires_pass_counts_steps_in_the_second_pass():
    assert schedule("a [b:.5] c", steps=10, hires_steps=10) == [(10, "a b c")]
    assert schedule("a [b:1.5] c", steps=10, hires_steps=10) == [(5, "a  c"), (10, "a b c")]
    assert schedule("a [b:14] c", steps=10, hires_steps=8) == [(4, "a  c"), (8, "a b c")]


def test_legacy_scheduling_reads_whole_numbers_with_a_dot_as_steps():
    assert schedule("[a:b:2.0]") == [(10, "a")]  # 2.0 is a fraction: 200% of the steps
    assert schedule("[a:b:2.0]", legacy=True) == [(2, "a"), (10, "b")]


def test_prompt_schedules_keeps_order_and_duplicates():
    result = prompt_schedules(["x [y:2]", "z", "x [y:2]"], 4)
    assert [[tuple(e) for e in s] for s in result] == [[(2, "x "), (4, "x y")], [(4, "z")], [(2, "x "), (4, "x y")]]


@pytest.mark.parametrize("steps", [0, -3, 2.5, True])
def test_bad_step_count_is_rejected(steps):
    with pytest.raises(ValueError, match="steps"):
        prompt_schedule("a", steps)
