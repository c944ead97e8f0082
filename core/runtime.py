"""The torch-free runtime: open a generator pack, draw seeded inputs, run, decode.

Imports numpy, onnxruntime and ganforge's torch-free modules only, so hosts (Blender's Python,
the MIDI bridge, the editor server) start fast. The input draw follows the contract documented
in :mod:`ganforge.core.pack`, so a host in another language can reproduce a seed. Large items
are generated in exact tiles (:mod:`ganforge.core.tiling`) within a memory budget.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from . import tiling
from .codec import Codec
from .errors import GanforgeError, PackError
from .fields import draw_field
from .latents import mix_inputs, stack_items
from .latents import slerp as slerp  # re-exported: the one slerp hosts and codecs use
from .limits import (
    BATCH_WORK_BYTES,
    DEFAULT_MAX_INPUT_MB,
    DEFAULT_MAX_OUTPUT_MB,
    DEFAULT_TILE_MB,
    MAX_INPUT_ENV,
    MAX_OUTPUT_ENV,
    MAX_WORK_ENV,
    TILE_ENV,
    env_mb,
    physical_mb,
)
from .pack import PackMeta, file_sha256, open_session, session_props
from .packcache import PackCache as PackCache  # re-exported: the one pack cache hosts use
from .sessions import default_threads as default_threads  # re-exported: hosts size their pools by it
from .sessions import providers_for, run_with_time_limit, session_options
from .tiling import TilePlan

_ORT_DTYPES = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(int64)": "int64",
               "tensor(int32)": "int32", "tensor(bool)": "bool"}


class PackRuntime:
    """One opened pack: metadata, a single onnxruntime session, seeded generation."""

    def __init__(self, path: Path, session: Any, meta: PackMeta) -> None:
        self.path = path
        self.session = session
        self.meta = meta
        self.input_names = [s.name for s in meta.inputs]
        self.output_names = [s.name for s in meta.outputs]

    # ---- opening -------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path, *, device: str = "auto", threads: int | None = None) -> PackRuntime:
        path = Path(path)
        session = open_session(path, session_options(threads), providers_for(device))
        meta = PackMeta.from_props(session_props(session), source=str(path))
        runtime = cls(path, session, meta)
        check_pack(path, session, meta, runtime.codec)
        return runtime

    @staticmethod
    def _check_graph(path: Path, session: Any, meta: PackMeta) -> None:
        """The metadata must describe the graph it sits in: names, ranks, fixed dims, dtypes."""
        graph_in = {i.name: i for i in session.get_inputs()}
        graph_out = [o.name for o in session.get_outputs()]
        declared = [s.name for s in meta.inputs]
        if sorted(graph_in) != sorted(declared):
            raise PackError(f"{path}: metadata inputs {declared} do not match the graph's "
                            f"inputs {sorted(graph_in)}")
        missing = [o.name for o in meta.outputs if o.name not in graph_out]
        if missing:
            raise PackError(f"{path}: metadata outputs {missing} are not outputs of the graph "
                            f"({graph_out})")
        for spec in meta.inputs:
            node = graph_in[spec.name]
            if len(node.shape) != len(spec.shape) or any(
                isinstance(d, int) and isinstance(g, int) and d != g for d, g in zip(spec.shape, node.shape, strict=True)
            ):
                raise PackError(f"{path}: input {spec.name!r} is declared {spec.shape} but the graph "
                                f"has shape {node.shape}")
            if _ORT_DTYPES.get(node.type) != spec.dtype:
                raise PackError(f"{path}: input {spec.name!r} is declared {spec.dtype} but the graph "
                                f"takes {node.type}")

    @cached_property
    def codec(self) -> Codec:
        """The modality's torch-free codec (a :class:`~ganforge.core.codec.Codec`), found
        through the plugin registry."""
        from . import plugins

        try:
            return plugins.codec_for(self.meta.modality)
        except GanforgeError as e:
            raise PackError(f"{self.path}: {e}") from None

    @cached_property
    def sha256(self) -> str:
        return file_sha256(self.path)

    @property
    def providers(self) -> list[str]:
        return list(self.session.get_providers())

    # ---- inputs ----------------------------------------------------------------------------
    def draw_inputs(self, seed: int, count: int, dims: dict[str, int],
                    scalars: dict[str, Any] | None = None) -> dict[str, np.ndarray]:
        """Inputs for ``count`` items, drawn as documented in :mod:`ganforge.core.pack`.

        Item ``i`` uses ``Generator(PCG64(seed + i))`` and draws the inputs in metadata order,
        so item ``i`` of a batch equals seed ``seed + i`` alone. An input without a ``batch``
        axis is shared by the batch and drawn from item 0's stream.
        """
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
            raise GanforgeError(f"seed {seed!r} must be a non-negative integer")
        if not isinstance(count, (int, np.integer)) or count < 1:
            raise GanforgeError(f"count {count!r} must be a positive integer")
        scalars = scalars or {}
        self._check_input_bytes(count, dims)
        unknown = sorted(set(scalars) - set(self.input_names))
        if unknown:
            raise GanforgeError(f"{self.path}: the pack has no input(s) {unknown}; it takes {self.input_names}")
        per_item: dict[str, list[np.ndarray]] = {s.name: [] for s in self.meta.inputs}
        for i in range(int(count)):
            rng = np.random.Generator(np.random.PCG64(int(seed) + i))
            for spec in self.meta.inputs:
                batched = "batch" in spec.shape
                if not batched and i > 0:
                    continue
                shape = tuple(self._dim(d, dims) for d in spec.shape if d != "batch")
                per_item[spec.name].append(self._draw(spec, shape, rng, scalars))
        feeds: dict[str, np.ndarray] = {}
        for spec in self.meta.inputs:
            items = per_item[spec.name]
            feeds[spec.name] = (np.stack(items, axis=spec.shape.index("batch"))
                                if "batch" in spec.shape else items[0])
        return feeds

    def _check_input_bytes(self, count: int, dims: dict[str, int]) -> None:
        """Refuse, before drawing anything, inputs whose declared shapes would take more memory
        than the output bound allows: a small pack can declare a 10^12-element latent."""
        total = 0
        for spec in self.meta.inputs:
            shape = [self._dim(d, dims) for d in spec.shape if d != "batch"]
            items = int(count) if "batch" in spec.shape else 1
            total += int(np.prod(shape, dtype=object)) * items * np.dtype(spec.dtype).itemsize
        limit = env_mb(MAX_INPUT_ENV, DEFAULT_MAX_INPUT_MB)
        if total > limit << 20:
            raise GanforgeError(f"{self.path}: the pack's inputs for {count} item(s) would take "
                                f"{total / 2**20:,.0f} MiB, over the {limit:,} MiB bound (set {MAX_INPUT_ENV} "
                                "to raise it)")

    def _dim(self, d: int | str, dims: dict[str, int]) -> int:
        if isinstance(d, int):
            return d
        if d not in dims:
            raise GanforgeError(f"{self.path}: no value for the pack's dimension {d!r} (got {sorted(dims)})")
        value = dims[d]
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise GanforgeError(f"dimension {d}={value!r} must be a positive integer")
        return int(value)

    @staticmethod
    def _draw(spec: Any, shape: tuple[int, ...], rng: np.random.Generator, scalars: dict[str, Any]) -> np.ndarray:
        dtype = np.dtype(spec.dtype)
        if spec.draw in ("normal", "uniform", "gumbel", "field") and dtype.kind != "f":
            raise PackError(f"input {spec.name!r}: draw {spec.draw!r} needs a float dtype, not {spec.dtype}")
        if spec.draw == "normal":
            return rng.standard_normal(shape, dtype=np.float32).astype(dtype, copy=False)
        if spec.draw == "field":
            return draw_field(rng, shape, int(spec.default)).astype(dtype, copy=False)
        if spec.draw == "uniform":
            return rng.random(shape, dtype=np.float32).astype(dtype, copy=False)
        if spec.draw == "gumbel":
            u = np.clip(rng.random(shape, dtype=np.float32), 1e-6, 1 - 1e-6)
            return (-np.log(-np.log(u))).astype(dtype, copy=False)
        value = scalars.get(spec.name, spec.default)
        if value is None:
            if spec.draw == "scalar":
                raise GanforgeError(f"input {spec.name!r} needs a value (it has no default)")
            return np.zeros(shape, dtype=dtype)  # an absent condition
        arr = np.asarray(value, dtype=dtype)
        try:
            return np.broadcast_to(arr, shape).copy()
        except ValueError:
            raise GanforgeError(f"input {spec.name!r}: value of shape {arr.shape} does not fit {shape}") from None

    # ---- running ---------------------------------------------------------------------------
    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Run the graph on ready inputs; returns the outputs in metadata order."""
        missing = [n for n in self.input_names if n not in feeds]
        if missing:
            raise GanforgeError(f"{self.path}: missing input(s) {missing}")
        outputs = run_with_time_limit(self.session, self.output_names, {n: feeds[n] for n in self.input_names},
                                      self.path)
        for name, out in zip(self.output_names, outputs, strict=True):
            if np.issubdtype(out.dtype, np.floating) and not np.isfinite(out).all():
                # a broken pack would otherwise decode to black images or garbage, with exit 0
                raise GanforgeError(f"{self.path}: the pack's output {name!r} holds non-finite values "
                                    "(NaN or inf); its weights are broken")
        return outputs

    def _work_bytes_per_item(self, graph_out_bytes_per_item: int) -> int:
        # The exporter measures the widest activation relative to the graph's output. A layer
        # holds its input, its padded copy and its output, and onnxruntime's arena rounds up: the
        # peak RSS measured for the default texture generator (onnxruntime 1.32, CPU, 1024-4096
        # px) was 6.7-7.2x ratio x output bytes, so 8x keeps the guard on the safe side.
        ratio = float(self.meta.train.get("peak_activation_ratio", 1.0))
        return int(8 * max(ratio, 1.0) * graph_out_bytes_per_item)

    def _graph_output_bytes(self, dims: dict[str, int], count: int) -> int:
        # The ratio is relative to the graph's output, which can be smaller than the decoded
        # result (a greyscale texture decodes to RGB); codecs say so with graph_output_bytes.
        return int(self.codec.graph_output_bytes(self.meta, dims, count))

    def work_bytes(self, dims: dict[str, int]) -> int:
        """Estimated working memory of running one item at ``dims`` (bytes)."""
        return self._work_bytes_per_item(self._graph_output_bytes(dims, 1))

    def schedule(self, count: int, dims: dict[str, int]) -> tuple[int, TilePlan | None]:
        """Check the memory guard for ``count`` items at ``dims``: ``(batch size, tile plan)``.

        An item whose working memory would exceed ``GANFORGE_TILE_MB`` (default 1024) is
        generated in tiles when the codec can plan them (``codec.tile_plan``), one item at a
        time; then one tile's working memory plus the whole result must fit the bound.
        Raises GanforgeError before anything is allocated when the output or the working
        memory would exceed the bounds (env ``GANFORGE_MAX_OUTPUT_MB``/``_WORK_MB``).
        """
        total = int(self.codec.output_bytes(self.meta, dims, count))
        limit = env_mb(MAX_OUTPUT_ENV, DEFAULT_MAX_OUTPUT_MB)
        if total > limit << 20:
            raise GanforgeError(f"{self.path}: {count} item(s) at these settings need {total / 2**20:,.0f} MiB "
                                f"of output, over the {limit:,} MiB bound (set {MAX_OUTPUT_ENV} to raise it)")
        work = self.work_bytes(dims)
        work_limit = env_mb(MAX_WORK_ENV, physical_mb() * 3 // 4)
        budget = min(env_mb(TILE_ENV, DEFAULT_TILE_MB), work_limit) << 20
        tiles = None
        if work > budget:  # tiles sized to leave room for the result
            tiles = self.codec.tile_plan(self.meta, dims, max(min(budget, (work_limit << 20) - total), 0),
                                         self.work_bytes)
        if tiles is not None:
            work = self.work_bytes(tiles.window_dims()) + total  # one window, and the result it fills
            cells = "x".join(str(t) for t in tiles.tile.values())
            what = f"one tile of {cells} cells (and the {total / 2**20:,.0f} MiB result)"
        else:
            what = "one item"
        if work > work_limit << 20:
            raise GanforgeError(f"{self.path}: {what} at these settings needs about {work / 2**20:,.0f} MiB "
                                f"of working memory, over the {work_limit:,} MiB bound "
                                f"(set {MAX_WORK_ENV} to raise it)")
        return (1 if tiles else max(1, min(count, BATCH_WORK_BYTES // max(work, 1)))), tiles

    def plan(self, count: int, dims: dict[str, int]) -> int:
        """The batch size :meth:`schedule` picks (after its memory guard)."""
        return self.schedule(count, dims)[0]

    def _tiled(self, seed: int, count: int, dims: dict[str, int], scalars: dict[str, Any] | None,
               tiles: TilePlan, decode: Any) -> list[np.ndarray]:
        """Item by item, tile by tile: the full latents are drawn (the seed contract holds),
        each window is run and cropped, then decoded (``decode``) or kept raw, and placed."""
        axes = [tiles.decoded] if decode else tiles.outputs
        results: list[np.ndarray] = []
        for i in range(count):
            feeds = self.draw_inputs(seed + i, 1, dims, scalars)
            for window, outs in tiling.run_tiled(self.run, feeds, tiles):
                parts = [decode(outs)] if decode else outs
                if not results:
                    results = [np.empty((count, *tiling.full_shape(p.shape, a, tiles)[1:]), dtype=p.dtype)
                               for p, a in zip(parts, axes, strict=True)]
                for result, part, a in zip(results, parts, axes, strict=True):
                    tiling.place(result[i:i + 1], part, a, window)
        return results

    def _values(self, options: dict[str, Any], scalars: dict[str, Any] | None) -> dict[str, Any]:
        """Host-supplied input values: what the codec derives from its options (images:
        ``category`` -> ``label``, ``truncation``), overridden by explicit ``scalars``."""
        return {**self.codec.scalars(self.meta, options), **(scalars or {})}

    def _custom_feeds(self, seed: int, count: int, dims: dict[str, int], scalars: dict[str, Any],
                      options: dict[str, Any]) -> dict[str, np.ndarray] | None:
        """Inputs a codec builds itself for some options (images: ``interpolate``), else None."""
        return self.codec.feeds(self, seed, count, dims, scalars, options)

    def generate_raw(self, seed: int = 0, count: int = 1, scalars: dict[str, Any] | None = None,
                     **options: Any) -> list[np.ndarray]:
        """The graph's outputs (undecoded, all channels) for ``count`` items from ``seed``."""
        dims = self.codec.resolve_dims(self.meta, options)
        scalars = self._values(options, scalars)
        composed = self.codec.compose(self, seed, count, dims, scalars, options)
        if composed is not None:
            return composed
        custom = self._custom_feeds(seed, count, dims, scalars, options)
        if custom is not None:
            return self.run(custom)
        batch, tiles = self.schedule(count, dims)
        if tiles is not None:
            return self._tiled(seed, count, dims, scalars, tiles, None)
        chunks = [self.run(self.draw_inputs(seed + start, min(batch, count - start), dims, scalars))
                  for start in range(0, count, batch)]
        return [np.concatenate([c[k] for c in chunks]) if len(chunks) > 1 else chunks[0][k]
                for k in range(len(self.output_names))]

    def generate(self, seed: int = 0, count: int = 1, scalars: dict[str, Any] | None = None,
                 **options: Any) -> Any:
        """Generate and decode: what the modality's codec returns (textures: (N, H, W, 3) in [0, 1]).

        Large items run one at a time, or in tiles (see :meth:`schedule`), and are decoded as
        they come, so the peak memory is one item's (or tile's) working set plus the result.
        The result does not depend on tiling: the same seed gives the same texture.
        """
        dims = self.codec.resolve_dims(self.meta, options)
        scalars = self._values(options, scalars)
        composed = self.codec.compose(self, seed, count, dims, scalars, options)
        if composed is not None:  # several runs the codec chains itself (music: bar by bar)
            return self.codec.decode(composed, self.meta, options)
        custom = self._custom_feeds(seed, count, dims, scalars, options)
        if custom is not None:
            return self.codec.decode(self.run(custom), self.meta, options)
        batch, tiles = self.schedule(count, dims)
        if tiles is not None:
            return self._tiled(seed, count, dims, scalars, tiles,
                               lambda outs: self.codec.decode(outs, self.meta, options))[0]
        result = None
        for start in range(0, count, batch):
            n = min(batch, count - start)
            part = self.codec.decode(self.run(self.draw_inputs(seed + start, n, dims, scalars)), self.meta, options)
            if n == count:
                return part
            if result is None:  # filled in place: no second copy of a large result
                result = np.empty((count, *part.shape[1:]), dtype=part.dtype)
            result[start:start + n] = part
        return result

    # ---- interpolation ---------------------------------------------------------------------
    def between(self, a: dict[str, np.ndarray], b: dict[str, np.ndarray], t: float) -> dict[str, np.ndarray]:
        """One item's inputs at ``t`` in [0, 1] between two single-item draws (from
        :meth:`draw_inputs`): normal draws move along the great circle, the rest stay ``a``'s
        (see :func:`ganforge.core.latents.mix_inputs`)."""
        return mix_inputs(self.meta.inputs, a, b, t)

    def interpolation_feeds(self, seed_a: int, seed_b: int, steps: int, dims: dict[str, int],
                            scalars: dict[str, Any] | None = None) -> dict[str, np.ndarray]:
        """``steps`` items from seed A's inputs to seed B's (both ends included, equal to the
        seeds' own draws), as one batch; the memory guard runs first."""
        if steps < 2:
            raise GanforgeError(f"--steps {steps}: an interpolation needs at least 2 steps")
        self.schedule(steps, dims)  # before anything is allocated
        a = self.draw_inputs(seed_a, 1, dims, scalars)
        b = self.draw_inputs(seed_b, 1, dims, scalars)
        return stack_items(self.meta.inputs, [self.between(a, b, float(t)) for t in np.linspace(0.0, 1.0, steps)])

    def decode_feeds(self, feeds: dict[str, np.ndarray], dims: dict[str, int], **options: Any) -> Any:
        """Run and decode one item from ready inputs (e.g. :meth:`between`), in tiles when the
        memory guard asks for them, as :meth:`generate` would for a drawn item."""
        _, plan = self.schedule(1, dims)
        if plan is None:
            return self.codec.decode(self.run(feeds), self.meta, options)
        result: np.ndarray | None = None
        for window, outs in tiling.run_tiled(self.run, feeds, plan):
            part = self.codec.decode(outs, self.meta, options)
            if result is None:
                result = np.empty(tiling.full_shape(part.shape, plan.decoded, plan), dtype=part.dtype)
            tiling.place(result, part, plan.decoded, window)
        return result

    def write(self, decoded: Any, out: str | Path, **options: Any) -> list[Path]:
        """Write decoded results with the modality's codec (textures: PNGs): all files, or none
        when one of them fails."""
        from .atomic import all_or_nothing

        with all_or_nothing():
            return self.codec.write(decoded, Path(out), options)


def check_pack(path: Path, session: Any, meta: PackMeta, codec: Codec | None) -> None:
    """Every check a pack must pass to be used — the one path ``generate``, ``info``, the editor
    and Blender share: metadata against the graph, then the modality codec's own checks of its
    decoder settings (when the modality is installed: ``codec`` is None otherwise)."""
    PackRuntime._check_graph(path, session, meta)
    if codec is not None:
        codec.validate(meta, str(path))


def load(path: str | Path, *, device: str = "auto", threads: int | None = None) -> PackRuntime:
    """Open a pack for generation. ``device``: ``auto`` (CUDA when onnxruntime-gpu sees a GPU),
    ``cpu`` or ``cuda``; ``threads``: intra-op threads (default: the CPUs available)."""
    return PackRuntime.open(path, device=device, threads=threads)
