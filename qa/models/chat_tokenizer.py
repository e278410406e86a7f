"""The tokenizer of a local chat model folder, with the defuser for its special tokens.

Both local backends that read a Hugging Face folder (transformers, CTranslate2) render
prompts with the folder's chat template and must keep its own special tokens out of
the text they are given: one loader, so they cannot drift apart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qa.models.special_tokens import SpecialTokenDefuser


def load_chat_tokenizer(folder: Path) -> tuple[Any, SpecialTokenDefuser]:
    from transformers import AutoTokenizer

    tokenizer: Any = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError(f"generator at {folder} has no chat template")
    defuser = SpecialTokenDefuser(
        token.content for token in tokenizer.added_tokens_decoder.values() if token.special
    )
    return tokenizer, defuser


def count_tokens(tokenizer: Any, text: str) -> int:
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])
