"""Exact tiled generation for fully convolutional generators (numpy only, torch-free).

An output pixel of a fully convolutional generator depends only on the latent cells within its
receptive radius. So the runtime draws the *full* latents exactly as the seed contract says,
then runs the graph on windows of them: each window is a tile of latent cells extended by a
``halo`` of cells on every side, taken with wrap-around from the full latent (the texture is
periodic). Inside the halo the graph's own circular padding makes wrong pixels; with a halo of
at least the receptive radius, the tile's interior is exactly what the whole image would have
there (up to float rounding). The interior is cropped and placed into the result.

Peak memory is one window's working set plus the result, whatever the image size. A modality
says how its inputs and outputs map onto spatial dims by returning a :class:`TilePlan` from
its codec's ``tile_plan``; this module knows nothing about textures.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

#: ``{axis: (dim name, output pixels per latent cell)}``: where an array's spatial axes are.
Axes = dict[int, tuple[str, int]]
#: ``{dim name: (first cell, cells)}``: one tile's interior on each tiled dim.
Window = dict[str, tuple[int, int]]


@dataclass(frozen=True)
class TilePlan:
    """How to generate ``dims`` tile by tile.

    ``tile``: interior cells per dim; ``halo``: context cells on each side (0 on a dim a single
    tile spans: the graph's own wrap-around is then exact); ``inputs``: ``{input name: {axis:
    dim}}`` for the inputs to cut (the others are passed whole); ``outputs``: the spatial
    :data:`Axes` of each graph output, in metadata order; ``decoded``: those of the codec's
    decoded array (its decode must work pixel by pixel, so a tile decodes on its own).
    """

    dims: dict[str, int]
    tile: dict[str, int]
    halo: dict[str, int]
    inputs: dict[str, dict[int, str]]
    outputs: list[Axes]
    decoded: Axes

    def window_dims(self) -> dict[str, int]:
        """The dims of the largest window the graph runs on (what the memory guard checks)."""
        return {**self.dims, **{d: t + 2 * self.halo[d] for d, t in self.tile.items()}}

    def windows(self) -> Iterator[Window]:
        """Tile interiors, row-major; the last tile on a dim may be smaller."""
        names = list(self.tile)
        starts = [range(0, self.dims[d], self.tile[d]) for d in names]
        for corner in np.ndindex(*(len(r) for r in starts)):
            yield {d: (starts[k][i], min(self.tile[d], self.dims[d] - starts[k][i]))
                   for k, (d, i) in enumerate(zip(names, corner, strict=True))}

    @property
    def count(self) -> int:
        return math.prod(math.ceil(self.dims[d] / t) for d, t in self.tile.items())


def square_tiles(dims: dict[str, int], tiled: list[str], halo: int,
                 fits: Callable[[dict[str, int]], bool]) -> tuple[dict[str, int], dict[str, int]]:
    """The largest square tile (in cells) whose window ``fits``, as ``(tile, halo)`` per dim.

    A dim the tile spans needs no halo. The tile is then shrunk to split each dim into equal
    parts (same tile count, less halo overhead). When not even a 1-cell tile fits, that is
    what is returned: the caller's memory guard decides.
    """

    def layout(side: int) -> tuple[dict[str, int], dict[str, int]]:
        tile = {d: min(side, dims[d]) for d in tiled}
        return tile, {d: 0 if tile[d] == dims[d] else halo for d in tiled}

    def ok(side: int) -> bool:
        tile, pad = layout(side)
        return fits({**dims, **{d: tile[d] + 2 * pad[d] for d in tiled}})

    # Not bisected: a window shrinks when the tile grows to span a dim (its halo goes), so
    # fitting is not monotone in the side. Sides are at most a few thousand cells: scan down.
    side = next((s for s in range(max(dims[d] for d in tiled), 0, -1) if ok(s)), 1)
    tile, pad = layout(side)
    for d in tiled:  # same number of tiles, evened out
        tile[d] = math.ceil(dims[d] / math.ceil(dims[d] / tile[d]))
    return tile, pad


def cut(feeds: dict[str, np.ndarray], plan: TilePlan, window: Window) -> dict[str, np.ndarray]:
    """One window of the inputs: the tile plus its halo, wrapping around the full latents."""
    out = dict(feeds)
    for name, axes in plan.inputs.items():
        x = feeds[name]
        for axis, d in axes.items():
            (start, size), h = window[d], plan.halo[d]
            if h == 0 and size == plan.dims[d]:
                continue  # the whole axis, no halo: already right
            x = np.take(x, np.arange(start - h, start + size + h), axis=axis, mode="wrap")
        out[name] = x
    return out


def crop(x: np.ndarray, axes: Axes, plan: TilePlan, window: Window) -> np.ndarray:
    """A window's output without its halo: the tile's exact interior."""
    index: list[slice] = [slice(None)] * x.ndim
    for axis, (d, scale) in axes.items():
        h, size = plan.halo[d], window[d][1]
        index[axis] = slice(h * scale, (h + size) * scale)
    return x[tuple(index)]


def full_shape(shape: tuple[int, ...], axes: Axes, plan: TilePlan) -> tuple[int, ...]:
    """The shape of a whole result whose one tile has ``shape``."""
    full = list(shape)
    for axis, (d, scale) in axes.items():
        full[axis] = plan.dims[d] * scale
    return tuple(full)


def place(dst: np.ndarray, src: np.ndarray, axes: Axes, window: Window) -> None:
    """Write a cropped tile into the whole result, in place."""
    index: list[slice] = [slice(None)] * dst.ndim
    for axis, (d, scale) in axes.items():
        start, size = window[d]
        index[axis] = slice(start * scale, (start + size) * scale)
    dst[tuple(index)] = src


def run_tiled(run: Callable[[dict[str, np.ndarray]], list[np.ndarray]], feeds: dict[str, np.ndarray],
              plan: TilePlan) -> Iterator[tuple[Window, list[np.ndarray]]]:
    """Run the graph window by window; yields each tile's window and cropped outputs."""
    for window in plan.windows():
        outs = run(cut(feeds, plan, window))
        if len(outs) != len(plan.outputs):
            raise ValueError(f"the graph returned {len(outs)} outputs; the tile plan maps {len(plan.outputs)}")
        yield window, [crop(o, axes, plan, window) for o, axes in zip(outs, plan.outputs, strict=True)]


__all__ = ["Axes", "TilePlan", "Window", "crop", "cut", "full_shape", "place", "run_tiled", "square_tiles"]
