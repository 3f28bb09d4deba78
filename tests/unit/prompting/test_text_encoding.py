import dataclasses

import pytest
import torch

from modules.prompting import (
    EmbeddingMatch,
    EncodingOptions,
    PromptEncoder,
    TextEncoderSpec,
    sd1_text_encoder,
    sd2_text_encoder,
    sdxl_text_encoders,
)

BOS, EOS = 49406, 49407


def sd1(tokenizer, clip_l, **options):
    return PromptEncoder((sd1_text_encoder(tokenizer, clip_l),), options=EncodingOptions(**options))


def token_ids(tokenizer, text, pad_id=EOS):
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    return torch.tensor([[BOS, *ids, EOS] + [pad_id] * (75 - len(ids))])


def test_sd1_last_layer_matches_the_model_output(tokenizer, clip_l):
    cond = sd1(tokenizer, clip_l).encode_texts(["a cat on a mat"])
    expected = clip_l(input_ids=token_ids(tokenizer, "a cat on a mat")).last_hidden_state
    assert cond.cross_attn.shape == (1, 77, 64)
    assert cond.pooled is None
    torch.testing.assert_close(cond.cross_attn, expected)


def test_clip_skip_2_is_penultimate_layer_with_final_layer_norm(tokenizer, clip_l):
    skip1 = sd1(tokenizer, clip_l, clip_skip=1).encode_texts(["a cat"]).cross_attn
    skip2 = sd1(tokenizer, clip_l, clip_skip=2).encode_texts(["a cat"]).cross_attn
    hidden = clip_l(input_ids=token_ids(tokenizer, "a cat"), output_hidden_states=True).hidden_states
    torch.testing.assert_close(skip2, clip_l.final_layer_norm(hidden[-2]))
    assert not torch.allclose(skip1, skip2)


def test_clip_skip_beyond_the_layers_is_rejected(tokenizer, clip_l):
    with pytest.raises(ValueError, match="clip_skip=3"):
        sd1(tokenizer, clip_l, clip_skip=3)
    with pytest.raises(ValueError, match="clip_skip"):
        EncodingOptions(clip_skip=0)


def test_prompt_over_75_tokens_gives_154_columns(tokenizer, clip_l):
    cond = sd1(tokenizer, clip_l).encode_texts([" ".join(["cat"] * 80), "a dog"])
    assert cond.cross_attn.shape == (2, 154, 64)
    # the short prompt's second chunk is an empty chunk
    empty = sd1(tokenizer, clip_l).encode_texts([""]).cross_attn[0]
    torch.testing.assert_close(cond.cross_attn[1, 77:], empty)


def emphasis_pair(tokenizer, clip_l, mode):
    encoder = sd1(tokenizer, clip_l, emphasis=mode)
    return encoder.encode_texts(["a (cat) sat"]).cross_attn, encoder.encode_texts(["a cat sat"]).cross_attn


def test_no_norm_multiplies_only_the_emphasized_token(tokenizer, clip_l):
    emphasized, plain = emphasis_pair(tokenizer, clip_l, "No norm")
    torch.testing.assert_close(emphasized[0, 2], plain[0, 2] * 1.1)
    others = [i for i in range(77) if i != 2]
    torch.testing.assert_close(emphasized[0, others], plain[0, others])
    assert not torch.isclose(emphasized.mean(), plain.mean())


def test_original_restores_the_mean(tokenizer, clip_l):
    emphasized, plain = emphasis_pair(tokenizer, clip_l, "Original")
    no_norm, _ = emphasis_pair(tokenizer, clip_l, "No norm")
    torch.testing.assert_close(emphasized.mean(), plain.mean())
    torch.testing.assert_close(emphasized, no_norm * (plain.mean() / no_norm.mean()))


def test_ignore_drops_weights_and_none_reads_brackets_as_text(tokenizer, clip_l):
    ignored, plain = emphasis_pair(tokenizer, clip_l, "Ignore")
    torch.testing.assert_close(ignored, plain)
    literal, _ = emphasis_pair(tokenizer, clip_l, "None")
    expected = clip_l(input_ids=token_ids(tokenizer, "a (cat) sat")).last_hidden_state
    torch.testing.assert_close(literal, expected)


def test_sd2_pads_with_zero_after_eos_and_reads_penultimate_layer(tokenizer, clip_l):
    encoder = PromptEncoder((sd2_text_encoder(tokenizer, clip_l),), options=EncodingOptions(clip_skip=2))
    cond = encoder.encode_texts(["a cat"])
    hidden = clip_l(input_ids=token_ids(tokenizer, "a cat", pad_id=0), output_hidden_states=True).hidden_states
    torch.testing.assert_close(cond.cross_attn, clip_l.final_layer_norm(hidden[-2]))  # clip skip ignored


def test_sdxl_concatenates_features_and_pools_from_the_second_encoder(tokenizer, clip_l, clip_g):
    encoder = PromptEncoder(sdxl_text_encoders(tokenizer, clip_l, clip_g), pooled_from=1)
    long_prompt = " ".join(["cat"] * 80)
    cond = encoder.encode_texts(["a cat", long_prompt])
    assert cond.cross_attn.shape == (2, 154, 64 + 80)
    assert cond.pooled.shape == (2, 32)

    l_hidden = clip_l(input_ids=token_ids(tokenizer, "a cat"), output_hidden_states=True).hidden_states
    g_output = clip_g(input_ids=token_ids(tokenizer, "a cat", pad_id=0), output_hidden_states=True)
    torch.testing.assert_close(cond.cross_attn[0, :77, :64], l_hidden[-2][0])
    torch.testing.assert_close(cond.cross_attn[0, :77, 64:], g_output.hidden_states[-2][0])
    torch.testing.assert_close(cond.pooled[0], g_output.text_embeds[0])

    first_chunk = torch.tensor([[BOS] + [2368] * 75 + [EOS]])
    torch.testing.assert_close(cond.pooled[1], clip_g(input_ids=first_chunk).text_embeds[0])


def test_encoder_setup_errors_are_clear(tokenizer, clip_l):
    with pytest.raises(ValueError, match="pooled_from"):
        PromptEncoder((sd1_text_encoder(tokenizer, clip_l),), pooled_from=1)
    with pytest.raises(ValueError, match="layer_from_end"):
        TextEncoderSpec(tokenizer, clip_l, layer_from_end=3)
    with pytest.raises(ValueError, match="emphasis"):
        EncodingOptions(emphasis="loud")


class WordsAsEmbedding:
    """Fake textual inversion: 'zebra' stands for the input vectors of 'red big dog'."""

    def __init__(self, tokenizer, model):
        self.zebra = tokenizer("zebra", add_special_tokens=False)["input_ids"][0]
        replacement = tokenizer("red big dog", add_special_tokens=False)["input_ids"]
        self.vectors = model.get_input_embeddings().weight[replacement].clone()

    def find_at(self, tokens, position):
        return EmbeddingMatch("zebra", 1, self.vectors) if tokens[position] == self.zebra else None


def test_embedding_vectors_replace_placeholder_inputs(tokenizer, clip_l):
    spec = dataclasses.replace(sd1_text_encoder(tokenizer, clip_l), embeddings=WordsAsEmbedding(tokenizer, clip_l))
    with_embedding = PromptEncoder((spec,)).encode_texts(["a zebra"]).cross_attn
    spelled_out = sd1(tokenizer, clip_l).encode_texts(["a red big dog"]).cross_attn
    torch.testing.assert_close(with_embedding, spelled_out)
    # the hook is removed afterwards
    torch.testing.assert_close(
        sd1(tokenizer, clip_l).encode_texts(["a zebra"]).cross_attn,
        clip_l(input_ids=token_ids(tokenizer, "a zebra")).last_hidden_state,
    )
