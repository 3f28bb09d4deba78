from modules.prompting import flatten_composable_prompts, split_composable_prompt


def test_and_splits_with_trailing_weights():
    assert split_composable_prompt("a cat :1.2 AND a dog") == [("a cat", 1.2), (" a dog", 1.0)]
    assert split_composable_prompt("a AND b:-0.5 AND c: .5") == [("a", 1.0), (" b", -0.5), (" c", 0.5)]


def test_prompt_without_and_is_one_part():
    assert split_composable_prompt("(a:1.2)") == [("(a:1.2)", 1.0)]
    assert split_composable_prompt("HANDS and ANDROID") == [("HANDS and ANDROID", 1.0)]


def test_flatten_deduplicates_parts_across_the_batch():
    flat = flatten_composable_prompts(["a AND b :2", "b AND c"])
    assert flat.texts == ["a", " b", "b", " c"]
    assert flat.indexes == [[(0, 1.0), (1, 2.0)], [(2, 1.0), (3, 1.0)]]
    assert flatten_composable_prompts(["x", "x"]).indexes == [[(0, 1.0)], [(0, 1.0)]]
