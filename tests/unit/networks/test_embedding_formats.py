import pytest
import torch

from modules.networks import EmbeddingFormatError, TokenPrefixLookup
from modules.networks.embedding_formats import embedding_from_tree


def test_a1111_diffusers_and_sdxl_trees():
    vec = torch.ones(2, 8)
    a1111 = embedding_from_tree({"string_to_param": {"*": vec}, "step": 3, "sd_checkpoint_name": "m"}, "e", "e.pt")
    assert a1111.parts[""].shape == (2, 8) and a1111.step == 3 and a1111.sd_checkpoint_name == "m"
    concept = embedding_from_tree({"<tok>": torch.ones(8, dtype=torch.float16)}, "c", "c.bin")
    assert concept.parts[""].shape == (1, 8) and concept.parts[""].dtype == torch.float32
    xl = embedding_from_tree({"clip_l": torch.ones(2, 8), "clip_g": torch.ones(2, 16)}, "x", "x.safetensors")
    assert xl.width == 24 and xl.vector_count == 2


@pytest.mark.parametrize("tree, message", [
    ([1, 2], "x.pt: expected a dict"),
    ({"string_to_param": {"*": torch.ones(1, 4), "#": torch.ones(1, 4)}}, "exactly one term"),
    ({"a": torch.ones(1, 4), "b": torch.ones(1, 4)}, "found 2 tensors"),
    ({"emb_params": torch.ones(1, 2, 3)}, r"must be \[vectors, width\]"),
    ({"emb_params": torch.ones(2, 4, dtype=torch.int64)}, "not floats"),
    ({"emb_params": torch.full((1, 4), float("nan"))}, "NaN"),
    ({"clip_l": torch.ones(1, 4), "clip_g": torch.ones(2, 4)}, "different vector counts"),
])
def test_bad_trees_are_clear_errors(tree, message):
    with pytest.raises(EmbeddingFormatError, match=message):
        embedding_from_tree(tree, "x", "x.pt")


def test_lookup_prefers_the_longest_name_at_a_position():
    short, long = torch.zeros(1, 4), torch.ones(2, 4)
    lookup = TokenPrefixLookup([((5,), "cat", short), ((5, 6, 7), "cat-toy", long)])
    match = lookup.find_at([1, 5, 6, 7, 2], 1)
    assert match.name == "cat-toy" and match.token_length == 3 and torch.equal(match.vectors, long)
    assert lookup.find_at([5, 6, 9], 0).name == "cat"
    assert lookup.find_at([1, 5], 0) is None and len(lookup) == 2
