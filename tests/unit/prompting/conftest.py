from pathlib import Path

import pytest
import torch
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

TOKENIZER_DIR = Path(__file__).resolve().parents[3] / "configs" / "clip_tokenizer"


@pytest.fixture(scope="session", autouse=True)
def _one_cpu_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def tokenizer() -> CLIPTokenizer:
    return CLIPTokenizer(str(TOKENIZER_DIR / "vocab.json"), str(TOKENIZER_DIR / "merges.txt"))


def tiny_text_config(hidden: int, layers: int, projection_dim: int = 32) -> CLIPTextConfig:
    return CLIPTextConfig(
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        vocab_size=49408,
        max_position_embeddings=77,
        projection_dim=projection_dim,
    )


def with_trained_like_norms(model: torch.nn.Module) -> torch.nn.Module:
    """Fresh LayerNorms (weight 1, bias 0) make every token vector zero-mean; trained ones do
    not, and the "Original" emphasis normalisation needs a non-zero mean."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.LayerNorm):
                module.weight.normal_(1.0, 0.2)
                module.bias.normal_(0.1, 0.3)
    return model.eval()


@pytest.fixture(scope="session")
def clip_l() -> CLIPTextModel:
    torch.manual_seed(0)
    return with_trained_like_norms(CLIPTextModel(tiny_text_config(64, 2)))


@pytest.fixture(scope="session")
def clip_g() -> CLIPTextModelWithProjection:
    torch.manual_seed(1)
    return with_trained_like_norms(CLIPTextModelWithProjection(tiny_text_config(80, 3)))


@pytest.fixture(autouse=True)
def _no_grad():
    with torch.no_grad():
        yield
