"""Text codec: the runtime side of the text modality (numpy, torch-free).

Decodes the pack's token ids to strings with the vocabulary stored in the pack (``ganforge.decoder``):
each line ends at its first ``<eos>``; an ``<unk>`` id prints as U+FFFD. ``decode`` returns a
numpy object array of ``str`` (one per item); ``write`` writes one line per item (UTF-8), and
``echo`` prints them (``ganforge generate`` without ``-o``).

Generate option: ``temperature`` (> 0; divides the logits before sampling: below 1 is safer and
less varied, above 1 wilder).
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
from .vocab import SPECIALS, Vocab

MAX_TEMPERATURE = 10.0


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


def scalars(meta: PackMeta, options: dict[str, Any]) -> dict[str, Any]:
    t = options.get("temperature")
    if t is None:
        return {}
    t = float(t)
    if not 0.0 < t <= MAX_TEMPERATURE:  # also refuses NaN
        raise GanforgeError(f"temperature {t:g} must be in (0, {MAX_TEMPERATURE:g}]")
    return {"temperature": t}


def decode(outputs: list[np.ndarray], meta: PackMeta, options: dict[str, Any]) -> np.ndarray:
    """(N, L) ids -> (N,) object array of lines."""
    ids = outputs[0]
    if ids.ndim != 2:
        raise PackError(f"text output {meta.outputs[0].name!r} must be (batch, length), got shape {ids.shape}")
    v = vocab(meta)
    out = np.empty(len(ids), dtype=object)
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
]

__all__ = ["GENERATE_OPTIONS", "TextCodec", "decode", "echo", "eval_samples", "load_reference", "output_bytes",
           "resolve_dims", "scalars", "sweep", "validate", "vocab", "write"]

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
