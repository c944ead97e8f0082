"""Tiny text packs for the text and editor tests: trained for real (a few dozen steps of a small
LSTM), exported through the real exporter, cached per test process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

#: Accented Latin and Chinese lines: the char level must handle any script.
LINES = ["Amélie", "Zoë", "François", "Jürgen", "Łukasz", "Ségolène", "Björk", "Ñuño",
         "李小龙", "王芳", "张伟", "陈静", "Ana María", "José", "Chloé", "Søren"] * 4
TINY_TEXT_MODEL: dict[str, Any] = {"emb": 16, "hidden": 32, "eval_samples": 16, "d_emb": 8, "d_reps": 2,
                                   "d_channels": 8, "pretrain_steps": 20}
_cache: dict[tuple[str, str], Path] = {}


def write_corpus(path: Path, lines: list[str] = LINES) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def train_config(out: Path, data: Path, family: str = "mle", steps: int = 40, **kw: Any) -> Any:
    from ganforge.core.training.config import TrainConfig

    options: dict[str, Any] = dict(
        modality="text", family=family, data=str(data), out=str(out), steps=steps, crop=8, batch=16,
        seed=0, device="cpu", model=dict(TINY_TEXT_MODEL), sample_every=1000, log_every=10,
        checkpoint_every=1000)
    options.update(kw)
    if family == "mle":  # TINY_TEXT_MODEL also sizes relgan's discriminator; mle refuses those keys
        from ganforge.core.modalities.text.family import MLE_DEFAULTS

        options["model"] = {k: v for k, v in options["model"].items() if k in MLE_DEFAULTS}
    return TrainConfig(**options)


def text_pack(root: Path, family: str = "mle") -> Path:
    """Train and export a tiny text pack once per process (``root``: a session temp folder)."""
    key = (str(root), family)
    if key in _cache and _cache[key].is_file():
        return _cache[key]
    from ganforge.core.training.run import train
    from ganforge.exporters.onnx.export import export_pack

    data = write_corpus(root / "corpus.txt")
    run = root / f"run-{family}"
    train(train_config(run, data, family), progress=False)
    pack = root / f"names-{family}.onnx"
    export_pack(run, pack)
    _cache[key] = pack
    return pack


#: Short captions for a word-level pack (the editor's second kind of pack).
CAPTIONS = ["a red fox jumps over the fence", "the big dog sleeps in the sun", "a small cat watches the birds",
            "the old man walks his dog", "a red car waits at the light", "the small boat drifts on the lake",
            "a big bird sings in the tree", "the cat sleeps on the red chair"] * 4


def word_pack(root: Path) -> Path:
    """A tiny word-level pack (captions), trained and exported once per process."""
    key = (str(root), "word")
    if key in _cache and _cache[key].is_file():
        return _cache[key]
    from ganforge.core.training.run import train
    from ganforge.exporters.onnx.export import export_pack

    data = write_corpus(root / "captions.txt", CAPTIONS)
    run = root / "run-word"
    train(train_config(run, data, "mle", crop=10, data_options={"level": "word"}), progress=False)
    pack = root / "captions-word.onnx"
    export_pack(run, pack)
    _cache[key] = pack
    return pack


def legacy_pack(pack: Path, out: Path) -> Path:
    """``pack`` as a pack exported before prefixes: the graph's ``prefix``/``prefix_len`` inputs
    become zeros computed from the batch (what such a graph computes), and leave the metadata."""
    import json

    import onnx
    from onnx import TensorProto, helper

    model = onnx.load(str(pack))
    props = {p.key: p for p in model.metadata_props}
    inputs = json.loads(props["ganforge.inputs"].value)
    length = next(i["shape"][1] for i in inputs if i["name"] == "prefix")
    for name in ("prefix", "prefix_len"):
        model.graph.input.remove(next(i for i in model.graph.input if i.name == name))
    model.graph.initializer.append(helper.make_tensor("legacy_len", TensorProto.INT64, [1], [length]))
    zero = helper.make_tensor("legacy_zero", TensorProto.INT64, [1], [0])
    model.graph.node.insert(0, helper.make_node("Shape", ["temperature"], ["legacy_batch"]))
    model.graph.node.insert(1, helper.make_node("ConstantOfShape", ["legacy_batch"], ["prefix_len"], value=zero))
    model.graph.node.insert(2, helper.make_node("Concat", ["legacy_batch", "legacy_len"], ["legacy_shape"], axis=0))
    model.graph.node.insert(3, helper.make_node("ConstantOfShape", ["legacy_shape"], ["prefix"], value=zero))
    props["ganforge.inputs"].value = json.dumps([i for i in inputs if i["name"] not in ("prefix", "prefix_len")])
    onnx.save(model, str(out))
    return out


def cli_lines(pack: Path, *args: str) -> list[str]:
    """The lines ``ganforge generate PACK *args`` prints (what the editor must insert or offer)."""
    out = subprocess.run([sys.executable, "-m", "ganforge.core.cli", "generate", str(pack), *args],
                         capture_output=True, check=True).stdout.decode("utf-8")
    return out.split("\n")[:-1]
