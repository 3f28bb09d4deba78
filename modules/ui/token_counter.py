"""The live "12/75" counter beside the prompt boxes (A1111's token counter)."""

from __future__ import annotations

import html
import re
import threading
from typing import Any

from modules.prompting import count_tokens
from modules.sd_models.manager import ModelManager

# extra-network tags (<lora:name:1>) are not sent to the text encoder, so they are not counted
EXTRA_NETWORK_TAG = re.compile(r"<\w+:[^>]+>")


class TokenCounter:
    """Counts with the loaded model's tokenizer, or the bundled CLIP one before a model loads
    (same vocabulary for every SD family, so the numbers agree)."""

    def __init__(self, models: ModelManager):
        self.models = models
        self._fallback: Any = None
        self._lock = threading.Lock()

    def _tokenizer(self) -> Any:
        model = self.models.current_or_none
        if model is not None and model.tokenizers:
            return model.tokenizers[0]
        with self._lock:
            if self._fallback is None:
                from transformers import CLIPTokenizer

                from modules.sd_models.loader import TOKENIZER_DIR

                self._fallback = CLIPTokenizer(str(TOKENIZER_DIR / "vocab.json"), str(TOKENIZER_DIR / "merges.txt"))
            return self._fallback

    def count(self, prompt: str, steps: int = 20, is_positive: bool = True) -> tuple[int, int]:
        """(tokens, limit): the limit grows in 75-token chunks as the prompt does."""
        text = EXTRA_NETWORK_TAG.sub("", prompt or "")
        result = count_tokens(text, self._tokenizer(), max(int(steps or 1), 1), is_positive=is_positive)
        return result.token_count, result.max_length

    def label(self, prompt: str, steps: int = 20, is_positive: bool = True) -> str:
        try:
            tokens, limit = self.count(prompt, steps, is_positive)
        except ValueError as e:  # unbalanced schedule syntax while typing: say so, do not fail
            return f'<span class="easel-token-error" title="{html.escape(str(e))}">?/75</span>'
        return f"<span>{tokens}/{limit}</span>"
