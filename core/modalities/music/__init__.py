"""The built-in music modality: multi-track piano-rolls from MIDI, a MuseGAN-style generator
conditioned on the previous bar, MIDI files out, and the music statistics of the MuseGAN paper.

Torch-free at import; the heavy parts are named as ``"module:attr"`` strings.
"""

from __future__ import annotations

from collections.abc import Callable

from ...components import Metric, Modality, ModelFamily
from ...hookspecs import hookimpl

NAME = "music"
_PKG = "ganforge.core.modalities.music"


@hookimpl
def ganforge_register_modalities(register: Callable[[Modality], None]) -> None:
    register(Modality(NAME, "Multi-track MIDI phrases (piano-rolls), continuing the previous bar",
                      codec=f"{_PKG}.codec:MusicCodec", data=f"{_PKG}.data:build_dataset", default_family="musegan",
                      data_help="a folder of MIDI files, a JSB-style .mat file, or builtin:bach (the Bach "
                                "chorales inside music21)"))


@hookimpl
def ganforge_register_families(register: Callable[[ModelFamily], None]) -> None:
    register(ModelFamily("musegan", NAME, f"{_PKG}.family:MusicFamily",
                         "MuseGAN-style shared/per-track/per-bar latents, previous-bar conditioner, hinge loss"))


@hookimpl
def ganforge_register_metrics(register: Callable[[Metric], None]) -> None:
    for name, text, lower in [
        ("EB", "empty-bar rate per track", True), ("UPC", "used pitch classes per non-empty bar", True),
        ("QN", "qualified-note rate (notes of at least 3/4 beat)", False),
        ("polyphony", "pitches per sounding step", True), ("scale_consistency", "best major-scale share", False),
        ("TD", "tonal distance between tracks", True),
        ("diversity", "Jaccard distance between consecutive samples (0: collapsed)", False),
    ]:
        register(Metric(NAME, name, f"{_PKG}.metrics:{name.lower()}", text, lower))
