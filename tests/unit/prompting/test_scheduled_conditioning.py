import pytest
import torch

from modules.prompting import (
    Conditioning,
    PromptEncoder,
    encode_prompt_schedules,
    encode_prompts,
    pad_to_length,
    sd1_text_encoder,
    sdxl_text_encoders,
    stack_at_step,
)


@pytest.fixture(scope="module")
def encoder(tokenizer, clip_l):
    return PromptEncoder((sd1_text_encoder(tokenizer, clip_l),))


class RecordingEncoder:
    """Stand-in conditioner: a text becomes 77 copies of its length; records each batch."""

    def __init__(self):
        self.batches = []

    def encode_texts(self, texts):
        self.batches.append(list(texts))
        return Conditioning(torch.stack([torch.full((77, 1), float(len(text))) for text in texts]))


def test_schedule_switches_conditioning_after_its_end_step(encoder):
    scheduled = encode_prompts(encoder, ["a [cat:dog:3]"], steps=10)
    reference = encoder.encode_texts(["a cat", "a dog"]).cross_attn
    for step in range(0, 4):
        torch.testing.assert_close(scheduled.at_step(step).cond.cross_attn[0], reference[0])
    for step in range(4, 10):
        torch.testing.assert_close(scheduled.at_step(step).cond.cross_attn[0], reference[1])


def test_alternation_changes_conditioning_every_step(encoder):
    scheduled = encode_prompt_schedules(encoder, ["[cat|dog]"], steps=4)[0]
    assert [entry.end_at_step for entry in scheduled] == [1, 2, 3, 4]
    cat, dog = encoder.encode_texts(["cat", "dog"]).cross_attn
    # A1111 passes the 0-based step: steps 0 and 1 use entry 1, then one entry per step
    picked = [stack_at_step([scheduled], step).cross_attn[0] for step in range(4)]
    for got, want in zip(picked, [cat, cat, dog, cat]):
        torch.testing.assert_close(got, want)


def test_and_parts_become_weighted_rows(encoder):
    scheduled = encode_prompts(encoder, ["a cat :1.5 AND a dog", "a dog"], steps=5)
    batch = scheduled.at_step(0)
    assert batch.conds_list == [[(0, 1.5), (1, 1.0)], [(2, 1.0)]]
    rows = batch.cond.cross_attn
    assert rows.shape == (3, 77, 64)
    torch.testing.assert_close(rows[1], rows[2])  # " a dog" and "a dog" encode alike
    torch.testing.assert_close(rows[0], encoder.encode_texts(["a cat"]).cross_attn[0])


def test_each_prompt_is_encoded_once_with_its_variants_as_one_batch():
    recorder = RecordingEncoder()
    schedules = encode_prompt_schedules(recorder, ["x [ab:3]", "y", "x [ab:3]"], steps=6)
    assert recorder.batches == [["x ", "x ab"], ["y"]]
    assert schedules[0] is schedules[2]
    assert [float(entry.cross_attn[0, 0]) for entry in schedules[0]] == [2.0, 4.0]


def test_uncond_batch_pads_shorter_prompts_with_their_last_vector(encoder):
    schedules = encode_prompt_schedules(encoder, ["a cat", " ".join(["dog"] * 80)], steps=3)
    cond = stack_at_step(schedules, 0).cross_attn
    assert cond.shape == (2, 154, 64)
    short = schedules[0][0].cross_attn
    torch.testing.assert_close(cond[0], pad_to_length(short, 154))
    torch.testing.assert_close(cond[0, 77:], short[-1:].expand(77, -1))


def test_sdxl_schedules_carry_pooled_vectors(tokenizer, clip_l, clip_g):
    encoder = PromptEncoder(sdxl_text_encoders(tokenizer, clip_l, clip_g), pooled_from=1)
    batch = encode_prompts(encoder, ["[cat:dog:2] AND bird"], steps=4).at_step(3)
    assert batch.cond.cross_attn.shape == (2, 77, 144)
    assert batch.cond.pooled.shape == (2, 32)
    torch.testing.assert_close(batch.cond.pooled[0], encoder.encode_texts(["dog"]).pooled[0])


def test_hires_steps_are_used_for_the_second_pass(encoder):
    scheduled = encode_prompt_schedules(encoder, ["[cat:dog:1.5]"], steps=10, hires_steps=4)[0]
    assert [entry.end_at_step for entry in scheduled] == [2, 4]


def test_empty_prompt_list_is_rejected(encoder):
    with pytest.raises(ValueError, match="prompts"):
        encode_prompts(encoder, [], steps=5)
