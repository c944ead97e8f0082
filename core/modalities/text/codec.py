"""Text codec: the runtime side of the text modality (numpy, torch-free).

Decodes the pack's token ids to strings with the vocabulary stored in the pack (``ganforge.decoder``):
each line ends at its first ``<eos>``; an ``<unk>`` id prints as U+FFFD. ``decode`` returns a
numpy object array of ``str`` (one per item); ``write`` writes one line per item (UTF-8), and
``echo`` prints them (``ganforge generate`` without ``-o``).

Generate options: ``temperature`` (> 0; divides the logits before sampling: below 1 is safer and
less varied, above 1 wilder) and ``prefix`` (text every line starts with: encoded by the pack's
own vocabulary, characters or words, a token it lacks as ``<unk>`` just as training maps it; the
graph emits those ids and samples on, so the continuation of a seed is the same in every
runtime). A decoded line is the prefix *as given* plus the decoded continuation
(:func:`continuation`), so a host that shows only the continuation slices it off exactly.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
import numpy as np

from ...atomic import write_atomic
from ...codec import Codec
from ...errors import GanforgeError, PackError
from ...pack import PackMeta
from .vocab import SPECIALS, UNK_ID, Vocab, normalise, tokenise

MAX_TEMPERATURE = 10.0
#: The graph inputs a prefix travels in (packs exported before prefixes lack them).
PREFIX_INPUTS = ("prefix", "prefix_len")


def vocab(meta: PackMeta, source: str = "pack") -> Vocab:
    d = meta.decoder.get("vocab")
    if (not isinstance(d, dict) or d.get("level") not in ("char", "word")
            or not isinstance(d.get("tokens"), list) or d["tokens"][:len(SPECIALS)] != list(SPECIALS)
            or not all(isinstance(t, str) for t in d["tokens"])):
        raise PackError(f"{source}: text decoder 'vocab' must be {{level: char|word, tokens: "
                        f"[{', '.join(SPECIALS)}, ...]}}")
    return Vocab.from_json(d)


def validate(meta: PackMeta, source: str = "pack") -> None:
    v = vocab(meta, source)
    length = meta.decoder.get("length")
    if not isinstance(length, int) or not 1 < length <= 513:
        raise PackError(f"{source}: text decoder 'length' must be an integer in 2..513, got {length!r}")
    if meta.outputs[0].range and int(meta.outputs[0].range[1]) != len(v) - 1:
        raise PackError(f"{source}: the ids' range {meta.outputs[0].range} does not match the "
                        f"vocabulary's {len(v)} tokens")


def resolve_dims(meta: PackMeta, options: dict[str, Any]) -> dict[str, int]:
    return {}  # lines have the pack's fixed length


def output_bytes(meta: PackMeta, dims: dict[str, int], count: int) -> int:
    return int(count) * int(meta.decoder.get("length", 1)) * 8


def supports_prefix(meta: PackMeta) -> bool:
    """Whether the pack's graph takes a prefix (exported by ganforge 0.x with issue 16's inputs)."""
    names = {spec.name for spec in meta.inputs}
    return all(n in names for n in PREFIX_INPUTS)


def encode_prefix(meta: PackMeta, text: str) -> list[int]:
    """``text`` as the pack's token ids (``[]`` for an empty prefix). Raises a one-line
    GanforgeError for a prefix longer than the pack's lines, or one made only of tokens the
    vocabulary lacks (it would condition on nothing but ``<unk>``)."""
    v = vocab(meta)
    ids = v.encode(tokenise(normalise(text), v.level))
    unit = "character" if v.level == "char" else "word"
    max_len = int(meta.decoder.get("max_len", int(meta.decoder.get("length", 2)) - 1))
    if len(ids) > max_len:
        raise GanforgeError(f"prefix {text[:40]!r} has {len(ids)} {unit}s; this pack's lines hold at most "
                            f"{max_len}")
    if ids and all(i == UNK_ID for i in ids):
        raise GanforgeError(f"prefix {text[:40]!r}: none of its {unit}s is in this pack's vocabulary")
    return ids


def scalars(meta: PackMeta, options: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    t = options.get("temperature")
    if t is not None:
        t = float(t)
        if not 0.0 < t <= MAX_TEMPERATURE:  # also refuses NaN
            raise GanforgeError(f"temperature {t:g} must be in (0, {MAX_TEMPERATURE:g}]")
        values["temperature"] = t
    prefix = options.get("prefix")
    if prefix:  # "" or None: whole lines, which every pack can make
        if not supports_prefix(meta):
            raise GanforgeError("this text pack was exported before prefixes existed (its graph has no "
                                "'prefix' input); re-export it from its run with `ganforge export RUN -o "
                                "PACK.onnx` to continue a prefix")
        ids = encode_prefix(meta, str(prefix))
        row = np.zeros(int(meta.decoder["length"]), dtype=np.int64)
        row[:len(ids)] = ids
        # the same prefix for every item: the runtime broadcasts a value to each row
        values.update(prefix=row, prefix_len=len(ids))
    return values


def continuation(v: Vocab, prefix: str, n: int, row: list[int]) -> str:
    """The text that follows ``prefix`` (``n`` tokens) in the sampled ``row`` of ids: what an
    editor shows as ghost text. Words are joined by spaces, with one before the first when the
    prefix does not already end in whitespace."""
    rest = v.decode(row[n:])
    if v.level == "word" and rest and prefix and not prefix[-1].isspace():
        return " " + rest
    return rest


def decode(outputs: list[np.ndarray], meta: PackMeta, options: dict[str, Any]) -> np.ndarray:
    """(N, L) ids -> (N,) object array of lines."""
    ids = outputs[0]
    if ids.ndim != 2:
        raise PackError(f"text output {meta.outputs[0].name!r} must be (batch, length), got shape {ids.shape}")
    v = vocab(meta)
    out = np.empty(len(ids), dtype=object)
    prefix = options.get("prefix")
    if prefix:
        n = len(encode_prefix(meta, str(prefix)))
        out[:] = [str(prefix) + continuation(v, str(prefix), n, row) for row in ids.tolist()]
    else:
        out[:] = [v.decode(row) for row in ids.tolist()]
    return out


def echo(decoded: np.ndarray, stream: Any = None) -> None:
    """One line per item on stdout (UTF-8 whatever the locale)."""
    stream = stream or sys.stdout
    from ...display import printable

    text = "".join(f"{printable(str(s))}\n" for s in decoded)  # a vocabulary can hold escape codes
    buffer = getattr(stream, "buffer", None)
    if buffer is not None:
        stream.flush()
        buffer.write(text.encode("utf-8"))
        buffer.flush()
    else:
        stream.write(text)


def write(decoded: np.ndarray, out: Path, options: dict[str, Any]) -> list[Path]:
    """One line per item to ``out`` (a file, or ``lines.txt`` in a folder), atomically."""
    path = out / "lines.txt" if out.is_dir() else out
    if not path.parent.is_dir():
        raise GanforgeError(f"{path}: folder {path.parent} does not exist")
    def save(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            f.writelines(f"{s}\n" for s in decoded)

    return [write_atomic(path, save)]


def load_reference(path: str | Path, meta: PackMeta) -> list[str]:
    """Reference lines for ``ganforge eval`` (read like training data)."""
    from .data import read_lines

    return read_lines(path)[0]


def eval_samples(runtime: Any, reference: Any, count: int, seed: int, **options: Any) -> list[str]:
    return list(runtime.generate(seed, count, **options))


GENERATE_OPTIONS: list[click.Option] = [
    click.Option(["--temperature"], type=float, default=None, metavar="T",
                 help="Text: sampling temperature (default 1; lower is safer, higher wilder)."),
    click.Option(["--prefix"], type=str, default=None, metavar="TEXT",
                 help="Text: every line starts with TEXT and the pack continues it (packs exported "
                      "before prefixes: re-export them)."),
]

__all__ = ["GENERATE_OPTIONS", "TextCodec", "continuation", "decode", "echo", "encode_prefix", "eval_samples",
           "load_reference", "output_bytes", "resolve_dims", "scalars", "supports_prefix", "sweep", "validate",
           "vocab", "write"]

#: ``ganforge train text`` options (see :mod:`ganforge.core.commands.train`): ``--max-len`` is
#: the run's ``crop`` (the token limit per line), ``--level`` and ``--max-vocab`` data options.
TRAIN_OPTIONS: list[click.Option] = [
    click.Option(["--max-len", "crop"], type=click.IntRange(1, 512), default=32, show_default=True,
                 help="Tokens per line; longer lines are truncated (and counted)."),
    click.Option(["--level"], type=click.Choice(["char", "word"]), default=None,
                 help="Tokens: characters (any script; default) or space-separated words."),
    click.Option(["--max-vocab"], type=click.IntRange(min=8), default=None,
                 help="Word level: keep the most frequent tokens; the rest become <unk> (default 20000)."),
]


SWEEP_TEMPERATURES = (0.6, 0.8, 1.0, 1.2, 1.4)


def sweep(runtime: Any, reference: list[str], png: Path, samples: int = 1000, seed: int = 0,
          training: list[str] | None = None, temperatures: tuple[float, ...] = SWEEP_TEMPERATURES) -> list[dict[str, Any]]:
    """Score ``samples`` lines per temperature (BLEU-2..5 against ``reference``, Self-BLEU-2..5,
    novelty against ``training`` when given) and plot BLEU-5 against Self-BLEU-5 to ``png``."""
    from ...metrics.text import bleu, novelty, plot_quality_diversity, self_bleu

    points = []
    for t in temperatures:
        lines = list(runtime.generate(seed, samples, temperature=t))
        point: dict[str, Any] = {"temperature": t, **bleu(lines, reference, seed=seed), **self_bleu(lines, seed=seed)}
        if training is not None:
            point["novelty"] = novelty(lines, training)
        points.append(point)
    plot_quality_diversity({Path(str(runtime.path)).stem: points}, png)
    return points


class TextCodec(Codec, functions=globals()):
    """The text codec: this module's functions named like :class:`Codec`'s methods, and its
    ``GENERATE_OPTIONS`` and ``TRAIN_OPTIONS`` (``functions=globals()``)."""

    output_kind = "lines"
