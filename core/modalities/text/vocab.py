"""Tokenisation and the vocabulary, shared by training and the runtime (pure Python, torch-free).

Two levels: ``char`` (one token per Unicode code point, so any script works: Chinese, accented
Latin, emoji) and ``word`` (whitespace-separated tokens; ``detokenise`` joins with spaces).
Ids 0-3 are the special tokens; a token the vocabulary lacks maps to ``<unk>`` explicitly (and the
codec prints it as ``UNK_TEXT``), so nothing is silently dropped. The vocabulary travels in the
pack's ``ganforge.decoder`` metadata.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIALS = (PAD, BOS, EOS, UNK)
PAD_ID, BOS_ID, EOS_ID, UNK_ID = range(4)
LEVELS = ("char", "word")
#: What an unknown token decodes to: U+FFFD, the replacement character.
UNK_TEXT = "\ufffd"


def normalise(line: str) -> str:
    """NFC (so "é" typed two ways is one token) without the line break."""
    return unicodedata.normalize("NFC", line.rstrip("\r\n"))


def tokenise(line: str, level: str) -> list[str]:
    if level == "char":
        return list(line)
    if level == "word":
        return line.split()
    raise ValueError(f"unknown level {level!r} (choose from {', '.join(LEVELS)})")


@dataclass
class Vocab:
    level: str
    tokens: list[str] = field(default_factory=lambda: list(SPECIALS))

    def __post_init__(self) -> None:
        self.index = {t: i for i, t in enumerate(self.tokens)}

    def __len__(self) -> int:
        return len(self.tokens)

    @classmethod
    def build(cls, lines: Iterable[list[str]], level: str, max_size: int | None = None,
              min_count: int = 1) -> Vocab:
        """Most frequent first (ties by first appearance, so the order is deterministic)."""
        counts: Counter[str] = Counter()
        for toks in lines:
            counts.update(toks)
        kept = [t for t, c in counts.most_common() if c >= min_count and t not in SPECIALS]
        if max_size is not None:
            kept = kept[:max(0, max_size - len(SPECIALS))]
        return cls(level, list(SPECIALS) + kept)

    def encode(self, toks: list[str]) -> list[int]:
        return [self.index.get(t, UNK_ID) for t in toks]

    def decode(self, ids: Iterable[int]) -> str:
        """Ids up to the first ``<eos>`` -> text; ``<pad>``/``<bos>`` are skipped."""
        out: list[str] = []
        for i in ids:
            i = int(i)
            if i == EOS_ID:
                break
            if i in (PAD_ID, BOS_ID):
                continue
            out.append(UNK_TEXT if i == UNK_ID or not 0 <= i < len(self.tokens) else self.tokens[i])
        return ("" if self.level == "char" else " ").join(out)

    def to_json(self) -> dict[str, Any]:
        return {"level": self.level, "tokens": self.tokens, "specials": list(SPECIALS)}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Vocab:
        return cls(d["level"], list(d["tokens"]))
