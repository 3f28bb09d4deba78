#!/usr/bin/env python3
"""Derive configs/clip_tokenizer/{vocab.json,merges.txt} from the CLIP BPE file open_clip ships.

Run once when the bundled tokenizer must be rebuilt (needs `pip install open_clip_torch`,
a developer tool, not a runtime dependency). The result loads in transformers'
CLIPTokenizer and gives the same ids as OpenAI's/open_clip's tokenizer; this script checks that.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "configs" / "clip_tokenizer"
MERGE_COUNT = 49152 - 256 - 2  # vocabulary size minus byte tokens and the two specials


def main() -> None:
    from open_clip.tokenizer import SimpleTokenizer, bytes_to_unicode, default_bpe
    from transformers import CLIPTokenizer

    merges = gzip.open(default_bpe()).read().decode("utf-8").split("\n")[1:MERGE_COUNT + 1]
    byte_tokens = list(bytes_to_unicode().values())
    vocab = byte_tokens + [t + "</w>" for t in byte_tokens] + ["".join(m.split()) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(vocab)}, ensure_ascii=False))
    (OUT / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")

    ours = CLIPTokenizer(str(OUT / "vocab.json"), str(OUT / "merges.txt"))
    reference = SimpleTokenizer()
    for text in ("a red circle on a blue background", "masterpiece, (best:1.2), émoji 🙂 WORLD!!"):
        expected = [49406, *reference.encode(text), 49407]
        assert ours(text)["input_ids"] == expected, text
    print(f"wrote {len(vocab)} tokens to {OUT}")


if __name__ == "__main__":
    main()
