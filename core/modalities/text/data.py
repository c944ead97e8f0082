"""Text training data: one sample per line, UTF-8, tokenised by character or word.

``read_lines(path)`` reads a file or a folder of ``.txt`` files (torch-free; the codec's
``load_reference`` uses it too) and ``build_dataset(path, max_len, options)`` returns a
:class:`TextDataset` whose ``sample(batch, gen)`` gives ``(batch, max_len + 1)`` int64 ids: the
tokens, ``<eos>``, then ``<pad>``. Every draw comes from the engine's CPU generator, so a resumed
run draws the same batches.

``builtin:names`` is the demo corpus: first names from `faker`'s person providers for eight
European locales (accented Latin included), about 4,500 unique short lines — see the README for
why. Options (``data_options``): ``level`` ("char" | "word"), ``max_vocab`` (word level: keep the
most frequent, the rest become ``<unk>``), ``min_count``, ``held_out`` (the share of lines kept out
of training, default 5%, none below 100 lines).

The held-out lines are what the run's best checkpoint is chosen by (their NLL): a small corpus is
memorised long before training ends, and the training lines cannot show it. The split is a fixed
shuffle (seed 0, not the run's seed), so every run and every resume of one dataset holds out the
same lines; the vocabulary comes from all lines, so a held-out word is never ``<unk>``.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ...errors import DataError
from .vocab import EOS_ID, LEVELS, PAD_ID, Vocab, normalise, tokenise

OPTIONS: dict[str, Any] = {"level": "char", "max_vocab": 20_000, "min_count": 1, "held_out": 0.05}
#: Below this many lines nothing is held out: every line is needed for training.
MIN_LINES_TO_HOLD_OUT = 100
NAME_LOCALES = ("en_US", "fr_FR", "de_DE", "it_IT", "es_ES", "pt_BR", "pl_PL", "cs_CZ")
#: corpus bounds: a 40 MB file of 20 million one-character lines once took 9 GB before failing
MAX_BYTES = 256 << 20
MAX_LINES = 1_000_000
#: A "line" longer than this (characters) means the file is not one sample per line.
GIANT_LINE = 100_000
SUFFIXES = (".txt", ".text", ".lines")


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr)


def builtin_names() -> list[str]:
    """Unique first names from faker's person providers, sorted (deterministic)."""
    names: set[str] = set()
    for loc in NAME_LOCALES:
        provider = importlib.import_module(f"faker.providers.person.{loc}").Provider
        for attr in ("first_names_female", "first_names_male", "first_names"):
            names.update(str(n) for n in getattr(provider, attr, ()) or ())
    return sorted(normalise(n) for n in names if n.strip())


def _files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
        if not files:
            raise DataError(f"{path}: no text files ({', '.join(SUFFIXES)}) in this folder")
        return files
    raise DataError(f"{path}: no such file or folder")


def read_lines(path: str | Path) -> tuple[list[str], str, list[str]]:
    """Non-empty, NFC-normalised lines of a file or folder: ``(lines, name, files)``.

    DataError naming the file for bytes that are not UTF-8 (with the line), a file of one giant
    line, or no text at all.
    """
    if str(path) == "builtin:names":
        return builtin_names(), "builtin:names", []
    if str(path).startswith("builtin:"):
        raise DataError(f"{path}: unknown built-in text corpus (available: builtin:names)")
    path = Path(path)
    lines: list[str] = []
    files = _files(path)
    total = sum(f.stat().st_size for f in files)
    if total > MAX_BYTES:
        raise DataError(f"{path}: {total / 2**20:,.0f} MiB of text, over the {MAX_BYTES >> 20} MiB limit "
                        "(a line GAN learns from a sample: take one)")
    for f in files:
        raw = f.read_bytes()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            line_no = raw[:e.start].count(b"\n") + 1
            raise DataError(f"{f}: not UTF-8 text (byte 0x{raw[e.start]:02x} at line {line_no}); "
                            "convert it, e.g. iconv -f latin1 -t utf-8") from None
        file_lines = text.splitlines()
        longest = max((len(s) for s in file_lines), default=0)
        if longest > GIANT_LINE:
            raise DataError(f"{f}: a line of {longest:,} characters; text data is one sample per line "
                            "(split it into lines first)")
        lines.extend(s for s in (normalise(s).strip() for s in file_lines) if s)
        if len(lines) > MAX_LINES:  # every line becomes a padded row of ids: memory grows with the count
            raise DataError(f"{f}: more than {MAX_LINES:,} lines in the corpus; a line GAN learns from a "
                            "sample: take one (e.g. shuf -n 200000)")
    if not lines:
        raise DataError(f"{path}: no text: every line is empty")
    return lines, path.name, [str(f) for f in files]


class TextDataset:
    def __init__(self, ids: Any, vocab: Vocab, info: dict[str, Any], held_out: Any = None) -> None:
        self.ids = ids  # (N, max_len + 1) int64 tensor: the training lines
        self.held_out = held_out if held_out is not None and len(held_out) else None  # (M, max_len + 1)
        self.vocab = vocab
        #: JSON-serialisable facts the family needs: vocab, max_len, counts, name, files
        self.data_info = info

    def __len__(self) -> int:
        return len(self.ids)

    def sample(self, batch: int, gen: Any) -> Any:
        """``batch`` lines drawn uniformly with replacement, int64 (batch, max_len + 1) on CPU."""
        import torch

        return self.ids[torch.randint(0, len(self.ids), (batch,), generator=gen)]

    def eval_sample(self, batch: int, gen: Any) -> Any:
        """The lines a run is evaluated on: the first ``batch`` held-out lines (all of them when
        there are fewer), or training lines drawn from ``gen`` when nothing is held out."""
        if self.held_out is None:
            return self.sample(batch, gen)
        return self.held_out[:batch]


def encode_lines(lines: list[str], vocab: Vocab, max_len: int) -> tuple[list[list[int]], int]:
    """Token ids + ``<eos>``, padded to ``max_len + 1``; returns (rows, lines truncated)."""
    rows, truncated = [], 0
    for line in lines:
        ids = vocab.encode(tokenise(line, vocab.level))
        if len(ids) > max_len:
            ids, truncated = ids[:max_len], truncated + 1
        rows.append(ids + [EOS_ID] + [PAD_ID] * (max_len - len(ids)))
    return rows, truncated


def build_dataset(path: str | Path, max_len: int, options: dict[str, Any] | None = None,
                  warn: Callable[[str], None] = _stderr) -> TextDataset:
    """Read, tokenise and encode a text dataset; ``max_len`` is the token limit per line (longer
    lines are truncated, and counted in a warning)."""
    import torch

    opts = {**OPTIONS, **(options or {})}
    unknown = sorted(set(opts) - set(OPTIONS))
    if unknown:
        raise DataError(f"unknown text data option(s): {', '.join(unknown)} (known: {', '.join(OPTIONS)})")
    if opts["level"] not in LEVELS:
        raise DataError(f"text level {opts['level']!r}: choose from {', '.join(LEVELS)}")
    max_len = int(max_len)
    if not 1 <= max_len <= 512:
        raise DataError(f"max length {max_len}: must be in 1..512 tokens")
    try:
        share = float(opts["held_out"])
    except (TypeError, ValueError):
        share = -1.0
    if not 0.0 <= share <= 0.5:
        raise DataError(f"held_out {opts['held_out']!r}: a share of the lines in 0..0.5 (0: hold none out)")
    lines, name, files = read_lines(path)
    toks = [tokenise(s, opts["level"]) for s in lines]
    vocab = Vocab.build(toks, opts["level"], int(opts["max_vocab"]), int(opts["min_count"]))
    rows, truncated = encode_lines(lines, vocab, max_len)
    if truncated:
        warn(f"note: {path}: {truncated} of {len(lines)} line(s) longer than {max_len} "
             f"{opts['level']} tokens were truncated (raise --max-len to keep them whole)")
    unk = sum(r.count(3) for r in rows)
    ids = torch.tensor(rows, dtype=torch.int64)
    n_held = int(round(share * len(rows))) if len(rows) >= MIN_LINES_TO_HOLD_OUT else 0
    chosen = torch.zeros(len(rows), dtype=torch.bool)  # the training lines keep the file's order
    chosen[torch.randperm(len(rows), generator=torch.Generator().manual_seed(0))[:n_held]] = True
    held, train = ids[chosen], ids[~chosen]
    info = {"name": name, "source": str(path), "level": opts["level"], "max_len": max_len,
            "vocab": vocab.to_json(), "count": len(train), "held_out": n_held, "truncated": truncated,
            "unknown_tokens": unk, "files": files[:10_000], "skipped": [], "channels": None}
    return TextDataset(train, vocab, info, held)
