"""Pictures and sound of generated music: piano-roll PNGs (Pillow) and WAVs (fluidsynth CLI)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

from ...atomic import readable_path, write_atomic
from ...errors import GanforgeError

SOUNDFONT_ENV = "GANFORGE_SOUNDFONT"
SOUNDFONTS = ("/usr/share/sounds/sf2/default-GM.sf2", "/usr/share/sounds/sf2/TimGM6mb.sf2",
              "/usr/share/sounds/sf2/FluidR3_GM.sf2", "/usr/share/soundfonts/default.sf2",
              "/opt/homebrew/share/soundfonts/default.sf2", "/usr/local/share/soundfonts/default.sf2")
COLOURS = np.array([(230, 85, 60), (60, 140, 230), (90, 190, 90), (230, 180, 40), (170, 90, 210),
                    (40, 190, 190), (200, 100, 150), (120, 120, 120)], np.float32)


def pianoroll_image(roll: np.ndarray, settings: Any, cell: tuple[int, int] = (3, 3)) -> np.ndarray:
    """``(tracks, steps, pitches)`` velocities -> RGB uint8 (pitch up, time right), one colour per
    track, bar lines dark, beat lines light, C rows tinted."""
    t, steps, pitches = roll.shape
    w, h = cell
    img = np.full((pitches, steps, 3), 250.0, np.float32)
    for p in range(pitches):
        if (settings.low + p) % 12 == 0:
            img[p] = 235.0
    beat, bar = settings.steps_per_beat, settings.steps_per_bar
    img[:, ::beat] = np.minimum(img[:, ::beat], 215.0)
    img[:, ::bar] = 150.0
    for k in range(t):
        on = roll[k].T > 0  # (pitches, steps)
        alpha = (0.5 + 0.5 * roll[k].T / 127.0)[..., None]
        img = np.where(on[..., None], img * (1 - alpha) + COLOURS[k % len(COLOURS)] * alpha, img)
    img = img[::-1]  # high pitches on top
    return np.repeat(np.repeat(img, h, axis=0), w, axis=1).astype(np.uint8)


def save_pianoroll(roll: np.ndarray, settings: Any, path: Path) -> None:
    from PIL import Image

    write_atomic(path, Image.fromarray(pianoroll_image(np.asarray(roll), settings)).save)


def save_sheet(rolls: list[np.ndarray], settings: Any, path: Path) -> None:
    """Several items' piano-rolls stacked top to bottom with a white gap (variations side by side)."""
    from PIL import Image

    images = [pianoroll_image(np.asarray(r), settings) for r in rolls]
    gap = np.full((6, images[0].shape[1], 3), 255, np.uint8)
    sheet = np.concatenate([x for img in images for x in (img, gap)][:-1])
    write_atomic(path, Image.fromarray(sheet).save)


def find_soundfont() -> tuple[str, str]:
    """``(fluidsynth executable, soundfont path)``; GanforgeError saying what to install."""
    exe = shutil.which("fluidsynth")
    if exe is None:
        raise GanforgeError("--audio needs fluidsynth (Debian/Ubuntu: apt install fluidsynth "
                            "timgm6mb-soundfont; macOS: brew install fluid-synth)")
    candidates = [os.environ.get(SOUNDFONT_ENV, "")] + list(SOUNDFONTS)
    for sf in candidates:
        if sf and Path(sf).is_file():
            return exe, sf
    raise GanforgeError(f"--audio needs a General-MIDI soundfont (.sf2): install timgm6mb-soundfont or set "
                        f"{SOUNDFONT_ENV}=/path/to/font.sf2")


def render_wav(midi: Path, wav: Path, rate: int = 44100) -> None:
    """Render ``midi`` to ``wav`` with fluidsynth (atomically; GanforgeError on failure)."""
    exe, sf = find_soundfont()

    def save(tmp: str) -> None:
        source = readable_path(midi)  # the MIDI file may still wait for its group's rename
        proc = subprocess.run([exe, "-ni", "-q", "-g", "1.0", "-r", str(rate), "-F", tmp, "-T", "wav", sf, str(source)],
                              capture_output=True, text=True, timeout=300)
        if proc.returncode != 0 or Path(tmp).stat().st_size <= 44:  # 44 bytes: a WAV header alone
            last = (proc.stderr.strip().splitlines() or ["no audio written"])[-1]
            raise GanforgeError(f"{wav}: fluidsynth failed ({last[:160]})")

    write_atomic(wav, save)
