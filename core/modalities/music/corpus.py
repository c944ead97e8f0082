"""A music data set as piano-rolls, read once and cached (torch-free: training and `eval` share it).

Sources: a folder of ``.mid``/``.midi`` files (MusicXML ``.xml``/``.mxl`` too, through music21),
``builtin:bach`` (the Bach chorales inside the music21 wheel), or a JSB-style ``.mat`` file.
Parsed rolls are cached as ``.npz`` under ``$GANFORGE_CACHE`` (default ``~/.cache/ganforge``),
keyed by the files' names, sizes and times and the reading options.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...atomic import write_atomic
from ...errors import DataError, GanforgeError
from . import roll as R

OPTIONS: dict[str, Any] = {
    "steps_per_beat": 4,  # 16th notes
    "bars": 4,  # bars per training sample (the previous bar comes on top, as the condition)
    "tracks": "tracks",  # or "single": everything in one piano track
    "max_tracks": 4,
    "low": None,  # lowest MIDI pitch; None: detected from the data
    "pitches": None,  # pitch count; None: detected
    "limit": None,  # read only the first N files (quick experiments, tests)
    "split": "traindata",  # which part of a .mat file
    # pieces that choose the best checkpoint, never trained on: "auto" (a .mat file's
    # "validdata" when training on its "traindata"; none otherwise), "none", or a path (a folder
    # of MIDI files or a .mat file, whose "validdata" is read)
    "valid": "auto",
}
CACHE_VERSION = 3


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr)


@dataclass
class RollSet:
    """Pieces as bool rolls ``(tracks, steps, pitches)`` over pitches ``low .. low + pitches - 1``."""

    name: str
    rolls: list[np.ndarray]
    names: list[str]
    programs: list[int]
    drums: list[bool]
    low: int
    steps_per_beat: int
    files: list[str]
    skipped: list[dict[str, str]]

    def __len__(self) -> int:
        return len(self.rolls)

    @property
    def pitches(self) -> int:
        return self.rolls[0].shape[2]

    @property
    def steps_per_bar(self) -> int:
        return self.steps_per_beat * R.BEATS_PER_BAR

    def bars(self) -> np.ndarray:
        """Every whole bar of every piece: ``(n, tracks, steps_per_bar, pitches)`` bool."""
        s = self.steps_per_bar
        return np.concatenate([r[:, :r.shape[1] // s * s].reshape(r.shape[0], -1, s, r.shape[2]).swapaxes(0, 1)
                               for r in self.rolls])


def options_of(options: dict[str, Any] | None) -> dict[str, Any]:
    opts = {**OPTIONS, **(options or {})}
    unknown = sorted(set(opts) - set(OPTIONS))
    if unknown:
        raise DataError(f"unknown music data option(s): {', '.join(unknown)} (known: {', '.join(OPTIONS)})")
    if int(opts["steps_per_beat"]) not in (1, 2, 4, 8):
        raise DataError(f"steps_per_beat={opts['steps_per_beat']}: use 1, 2, 4 or 8")
    if int(opts["bars"]) < 1:
        raise DataError(f"bars={opts['bars']}: need at least 1")
    return opts


def _files(path: Path, limit: int | None) -> list[Path]:
    if path.is_file():
        return [path]
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in R.MIDI_SUFFIXES + R.XML_SUFFIXES)
    if not files:
        raise DataError(f"{path}: no .mid/.midi (or MusicXML) files in this folder")
    return files[:limit] if limit else files


def _cache_path(key: dict[str, Any]) -> Path:
    root = Path(os.environ.get("GANFORGE_CACHE") or Path.home() / ".cache" / "ganforge") / "music"
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
    return root / f"{digest}.npz"


def _stamp(files: list[Path]) -> list[list[Any]]:
    return [[str(f), f.stat().st_size, int(f.stat().st_mtime)] for f in files]


def load(source: str | Path, options: dict[str, Any] | None = None,
         warn: Callable[[str], None] = _stderr) -> RollSet:
    """Read (or fetch from the cache) the rolls of ``source``; DataError naming it if unusable."""
    opts = options_of(options)
    spb, limit = int(opts["steps_per_beat"]), opts["limit"]
    source_s = str(source)
    if source_s == "builtin:bach":
        files, name = R.bach_chorale_paths()[:limit] if limit else R.bach_chorale_paths(), "bach-chorales (music21)"
    elif source_s.startswith("builtin:"):
        raise DataError(f"{source_s}: unknown built-in data (music has 'builtin:bach')")
    else:
        path = Path(source_s)
        if not path.exists():
            raise DataError(f"{path}: no such file or folder")
        if path.suffix.lower() == ".mat":
            return _from_mat(path, opts)
        files, name = _files(path, limit), path.name
    key = {"v": CACHE_VERSION, "files": _stamp(files), "spb": spb, "tracks": opts["tracks"],
           "max_tracks": opts["max_tracks"]}
    cache = _cache_path(key)
    if cache.is_file():
        try:
            return _finish(_read_cache(cache), opts, name)
        except Exception:  # a damaged cache is rebuilt, never trusted
            cache.unlink(missing_ok=True)

    def read(f: Path) -> R.Piece:
        if f.suffix.lower() in R.MIDI_SUFFIXES:
            return R.read_midi(f, spb)
        return R.read_music21(f, spb, f.name)

    pieces, skipped = R.collect(files, read, warn)
    if not pieces:
        why = "; ".join(sorted({s["reason"] for s in skipped}))[:200]
        raise DataError(f"{source_s}: none of its {len(files)} file(s) is usable ({why})")
    layout = R.layout_for(pieces, opts["tracks"], int(opts["max_tracks"]))
    raw = {"rolls": [R.to_roll(p, layout) for p in pieces], "names": layout.names, "programs": layout.programs,
           "drums": layout.drums, "files": [p.name for p in pieces], "skipped": skipped}
    _write_cache(cache, raw)
    return _finish(raw, opts, name)


def load_valid(path: str | Path, opts: dict[str, Any], train: RollSet,
               warn: Callable[[str], None] = _stderr) -> RollSet | None:
    """The validation pieces for a training set read from ``path`` (``opts["valid"]``), on the
    training set's pitch range and tracks; None when there are none. A validation note outside
    the training range is dropped: the model cannot play it either."""
    choice = opts.get("valid", "auto")
    if choice in (None, "none", ""):
        return None
    if choice == "auto":
        source = Path(str(path))
        if source.suffix.lower() != ".mat" or opts["split"] != "traindata":
            return None
    else:
        source = Path(str(choice)).expanduser()
        if not source.exists():
            raise DataError(f"valid={choice}: no such file or folder")
    if source.suffix.lower() == ".mat":
        try:
            rolls = R.read_jsb_mat(source, "validdata", int(opts["steps_per_beat"]))
        except DataError:
            if choice == "auto":  # a .mat file of one's own need not have the split
                return None
            raise
        raw_names, drums = ["piano"], [False]
    else:
        found = load(source, {**opts, "valid": "none", "low": None, "pitches": None, "limit": None}, warn)
        if len(found.names) != len(train.names):
            raise DataError(f"valid={choice}: {len(found.names)} track(s), the training data has {len(train.names)}")
        rolls = [np.pad(r, ((0, 0), (0, 0), (found.low, 128 - found.low - found.pitches))) for r in found.rolls]
        raw_names, drums = found.names, found.drums
    rolls = [np.ascontiguousarray(r[:, :, train.low:train.low + train.pitches]) for r in rolls if r.shape[1] > 0]
    if not rolls:
        return None
    return RollSet(f"{source.name} (validation)", rolls, list(raw_names), list(train.programs), list(drums),
                   train.low, train.steps_per_beat, [f"{source.name}[{i}]" for i in range(len(rolls))], [])


def _from_mat(path: Path, opts: dict[str, Any]) -> RollSet:
    rolls = R.read_jsb_mat(path, str(opts["split"]), int(opts["steps_per_beat"]))
    if opts["limit"]:
        rolls = rolls[:int(opts["limit"])]
    raw = {"rolls": rolls, "names": ["piano"], "programs": [0], "drums": [False],
           "files": [f"{path.name}[{i}]" for i in range(len(rolls))], "skipped": []}
    return _finish(raw, opts, path.name)


def _finish(raw: dict[str, Any], opts: dict[str, Any], name: str) -> RollSet:
    """Crop to the pitch range (given or detected); a range that cuts notes is an error."""
    rolls = [r for r in raw["rolls"] if r.shape[1] > 0]
    if not rolls:
        raise DataError(f"{name}: no notes in the data")
    low, count = R.pitch_range(rolls, raw["drums"])
    if opts["low"] is not None or opts["pitches"] is not None:
        given_low = int(opts["low"]) if opts["low"] is not None else low
        given_count = int(opts["pitches"]) if opts["pitches"] is not None else low + count - given_low
        if given_low > low or given_low + given_count < low + count or given_low < 0 or given_low + given_count > 128:
            raise DataError(f"{name}: pitch range {given_low}..{given_low + given_count - 1} does not hold the "
                            f"data's notes ({low}..{low + count - 1})")
        low, count = given_low, given_count
    spb = int(opts["steps_per_beat"])
    out = [np.ascontiguousarray(r[:, :, low:low + count]) for r in rolls]
    return RollSet(name, out, list(raw["names"]), [int(p) for p in raw["programs"]], [bool(d) for d in raw["drums"]],
                   low, spb, list(raw["files"]), list(raw["skipped"]))


def _write_cache(path: Path, raw: dict[str, Any]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {k: v for k, v in raw.items() if k != "rolls"}
        arrays = {f"roll{i}": np.packbits(r, axis=-1) for i, r in enumerate(raw["rolls"])}

        def save(tmp: str) -> None:
            with open(tmp, "wb") as f:  # a file object: savez would otherwise append ".npz" to the name
                np.savez_compressed(f, meta=json.dumps(meta), **arrays)

        write_atomic(path, save)
    except (OSError, GanforgeError):  # a read-only home or a full disk: work without a cache
        pass


def _read_cache(path: Path) -> dict[str, Any]:
    with np.load(path) as z:
        meta = json.loads(str(z["meta"]))
        count = sum(1 for k in z.files if k.startswith("roll"))
        meta["rolls"] = [np.unpackbits(z[f"roll{i}"], axis=-1, count=128).astype(bool) for i in range(count)]
    return meta
