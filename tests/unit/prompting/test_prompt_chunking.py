import pytest
import torch

from modules.prompting import EmbeddingMatch, count_tokens, tokenize_prompt

BOS, EOS, COMMA = 49406, 49407, 267


@pytest.fixture(scope="module")
def ids(tokenizer):
    return {word: tokenizer(word, add_special_tokens=False)["input_ids"][0] for word in ("cat", "dog", "a", "b", "c", "zebra")}


def words(word, count):
    return " ".join([word] * count)


def test_short_prompt_is_one_padded_chunk(tokenizer, ids):
    chunks, token_count = tokenize_prompt("a cat", tokenizer)
    assert token_count == 2
    assert len(chunks) == 1
    assert chunks[0].tokens == (BOS, ids["a"], ids["cat"]) + (EOS,) * 74
    assert chunks[0].multipliers == (1.0,) * 77


def test_empty_prompt_is_one_chunk_of_padding(tokenizer):
    chunks, token_count = tokenize_prompt("", tokenizer)
    assert token_count == 0
    assert [chunk.tokens for chunk in chunks] == [(BOS,) + (EOS,) * 76]


def test_75_tokens_fit_one_chunk_and_76_need_two(tokenizer, ids):
    chunks, token_count = tokenize_prompt(words("cat", 75), tokenizer)
    assert (len(chunks), token_count) == (1, 75)
    assert chunks[0].tokens == (BOS,) + (ids["cat"],) * 75 + (EOS,)

    chunks, token_count = tokenize_prompt(words("cat", 76), tokenizer)
    assert (len(chunks), token_count) == (2, 76)
    assert chunks[1].tokens == (BOS, ids["cat"]) + (EOS,) * 75


def test_comma_backtrack_moves_text_after_the_last_comma(tokenizer, ids):
    prompt = words("cat", 70) + ", " + words("dog", 10)
    chunks, token_count = tokenize_prompt(prompt, tokenizer)
    assert token_count == 75 + 10
    first, second = chunks
    assert first.tokens == (BOS,) + (ids["cat"],) * 70 + (COMMA,) + (EOS,) * 5
    assert second.tokens[:12] == (BOS,) + (ids["dog"],) * 10 + (EOS,)


def test_comma_backtrack_disabled_or_too_far_splits_at_75(tokenizer, ids):
    prompt = words("cat", 70) + ", " + words("dog", 10)
    first, second = tokenize_prompt(prompt, tokenizer, comma_padding_backtrack=0).chunks
    assert first.tokens[71:76] == (COMMA,) + (ids["dog"],) * 4
    assert second.tokens[1:8] == (ids["dog"],) * 6 + (EOS,)

    far = words("cat", 50) + ", " + words("cat", 30)  # comma 25 tokens before the end > 20
    first, second = tokenize_prompt(far, tokenizer).chunks
    assert first.tokens[75] == ids["cat"]
    assert second.tokens[1:8] == (ids["cat"],) * 6 + (EOS,)


def test_break_starts_a_new_chunk(tokenizer, ids):
    chunks, token_count = tokenize_prompt("a BREAK b", tokenizer)
    assert token_count == 76
    assert [chunk.tokens[:3] for chunk in chunks] == [(BOS, ids["a"], EOS), (BOS, ids["b"], EOS)]


def test_multipliers_follow_emphasis(tokenizer):
    chunk = tokenize_prompt("a (b) [c] (cat:1.3)", tokenizer).chunks[0]
    assert chunk.multipliers[:6] == (1.0, 1.0, 1.1, 1 / 1.1, 1.3, 1.0)


def test_emphasis_none_keeps_brackets_and_break_as_text(tokenizer):
    chunks, token_count = tokenize_prompt("(b) BREAK", tokenizer, emphasis="None")
    assert token_count == 4
    assert chunks[0].multipliers == (1.0,) * 77


def test_bad_options_are_rejected(tokenizer):
    with pytest.raises(ValueError, match="emphasis"):
        tokenize_prompt("a", tokenizer, emphasis="Loud")
    with pytest.raises(ValueError, match="comma_padding_backtrack"):
        tokenize_prompt("a", tokenizer, comma_padding_backtrack=75)


class ZebraEmbedding:
    """Fake textual-inversion lookup: the word 'zebra' stands for three vectors."""

    def __init__(self, zebra_id):
        self.zebra_id = zebra_id
        self.vectors = torch.randn(3, 64)

    def find_at(self, tokens, position):
        if tokens[position] == self.zebra_id:
            return EmbeddingMatch("zebra", 1, self.vectors)
        return None


def test_embedding_takes_placeholders_and_records_its_offset(tokenizer, ids):
    lookup = ZebraEmbedding(ids["zebra"])
    chunk = tokenize_prompt("a (zebra) b", tokenizer, embeddings=lookup).chunks[0]
    assert chunk.tokens[:6] == (BOS, ids["a"], 0, 0, 0, ids["b"])
    assert chunk.multipliers[2:5] == (1.1, 1.1, 1.1)
    assert [(fix.offset, fix.embedding.name) for fix in chunk.fixes] == [(2, "zebra")]


def test_embedding_that_does_not_fit_moves_to_next_chunk(tokenizer, ids):
    lookup = ZebraEmbedding(ids["zebra"])
    first, second = tokenize_prompt(words("cat", 73) + " zebra", tokenizer, embeddings=lookup).chunks
    assert first.fixes == ()
    assert first.tokens[74:] == (EOS,) * 3
    assert second.fixes[0].offset == 1


def test_count_tokens_rounds_up_to_multiples_of_75(tokenizer):
    assert count_tokens("a cat", tokenizer, 20) == (2, 75)
    assert count_tokens("", tokenizer, 20) == (0, 75)
    assert count_tokens(words("cat", 80), tokenizer, 20) == (80, 150)
    assert count_tokens("a BREAK b", tokenizer, 20) == (76, 150)


def test_count_tokens_takes_the_longest_schedule_variant_and_and_part(tokenizer):
    assert count_tokens("[cat:cat cat cat:5]", tokenizer, 20) == (3, 75)
    assert count_tokens("a AND b c d", tokenizer, 20) == (3, 75)
    assert count_tokens("a AND b c d", tokenizer, 20, is_positive=False) == (5, 75)


def test_comma_backtrack_carries_embedding_placeholders_along(tokenizer, ids):
    lookup = ZebraEmbedding(ids["zebra"])
    prompt = words("cat", 68) + ", zebra " + words("dog", 10)
    first, second = tokenize_prompt(prompt, tokenizer, embeddings=lookup).chunks
    assert first.fixes == ()
    assert first.tokens[68:71] == (ids["cat"], COMMA, EOS)
    assert [fix.offset for fix in second.fixes] == [1]
    assert second.tokens[1:5] == (0, 0, 0, ids["dog"])
