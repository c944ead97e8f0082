"""No option is silently ignored: every ``generate`` option a codec declares is refused for packs of
other modalities, and every ``train`` option of every modality is either used by
every family, or declared per family (``Family.honours``) and refused with one line by a family
that does not use it; model options are checked against the family's declared ones."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from ganforge.core import plugins
from ganforge.core.cli import cli
from ganforge.core.components import resolve

#: Options every family uses (run length, bookkeeping, data, the family's own options).
UNIVERSAL = {"data", "out", "steps", "minutes", "resume", "seed", "device", "family", "batch", "data_option",
             "model_option", "checkpoint_every", "checkpoint_minutes", "sample_every", "patience", "progress",
             "keep_last", "lr_decay_steps"}  # the schedule scales every family's optimisers
#: Flags of the family-dependent engine options (TrainConfig fields in family.ENGINE_OPTIONS).
ENGINE_FLAGS = {"crop": ("crop", "32"), "lr": ("lr_g", "0.001"), "loss": ("loss", "hinge"),
                "r1_gamma": ("r1_gamma", "2"), "r1_every": ("r1_every", "4")}
DATA = {"texture": "builtin:skimage", "music": "builtin:bach", "text": "builtin:names"}


def _families() -> list[tuple[str, str]]:
    plugins.reset()
    return sorted((f.modality, f.name) for f in plugins.get_registry().families.values())


def _one_error_line(result, *needles: str) -> str:  # type: ignore[no-untyped-def]
    assert result.exit_code == 2, (result.exit_code, result.output)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def _train(tmp_path: Path, modality: str, family: str, *args: str):  # type: ignore[no-untyped-def]
    plugins.reset()
    data = DATA.get(modality, str(tmp_path))  # refused before any data is read
    return CliRunner().invoke(cli, ["train", modality, "--data", data, "--out", str(tmp_path / "run"), "--family",
                                    family, "--steps", "1", "--device", "cpu", "--no-progress", *args],
                              prog_name="ganforge")


def _command(modality: str):  # type: ignore[no-untyped-def]
    from ganforge.core.commands.train import train

    return train.get_command(None, modality)  # type: ignore[arg-type]


def test_every_train_option_is_classified() -> None:
    """A new shared option must be added here: used by all families, or an engine option a
    family declares (and is refused by the others)."""
    from ganforge.core.training.family import ENGINE_OPTIONS

    assert {field for field, _ in ENGINE_FLAGS.values()} | {"lr_d"} == set(ENGINE_OPTIONS)
    for modality in ("texture", "image", "music", "text"):
        command = _command(modality)
        codec_options = {o.name for o in plugins.codec_for(modality).train_options}
        for option in command.params:
            assert option.name in UNIVERSAL | set(ENGINE_FLAGS) | codec_options, (modality, option.name)


@pytest.mark.parametrize(("modality", "family"), _families())
def test_an_engine_option_the_family_does_not_use_is_refused(tmp_path: Path, modality: str, family: str) -> None:
    cls = resolve(plugins.family(modality, family).factory)
    command = _command(modality)
    flags = {o.name: o.opts[0] for o in command.params}
    refused = 0
    for name, (field, value) in ENGINE_FLAGS.items():
        if name not in flags:  # replaced by the modality (text's crop is --max-len, its own)
            continue
        if field in cls.honours:
            continue
        refused += 1
        _one_error_line(_train(tmp_path, modality, family, flags[name], value), flags[name],
                        f"does not apply to the {modality} family {family!r}")
        assert not (tmp_path / "run").exists()
    # text: lr, loss, r1-gamma, r1-every; music: crop; image fastgan: r1-gamma, r1-every
    expected = {("image", "fastgan"): 2}.get((modality, family), {"text": 4, "music": 1}.get(modality, 0))
    assert refused == expected


@pytest.mark.parametrize(("modality", "family"), _families())
def test_a_misspelt_model_option_is_refused(tmp_path: Path, modality: str, family: str) -> None:
    if modality == "image":  # an image set needs images before the family is built
        from ganforge.core.training.config import TrainConfig

        cls = resolve(plugins.family(modality, family).factory)
        with pytest.raises(Exception, match="unknown model option 'bsae'"):
            cls.check_config(TrainConfig(modality=modality, family=family, model={"bsae": 64}), set())
        return
    extra = ["--crop", "32"] if modality == "texture" else []
    _one_error_line(_train(tmp_path, modality, family, "--model-option", "bsae=64", *extra), "bsae")


def test_a_model_option_of_the_wrong_type_is_refused(tmp_path: Path) -> None:
    line = _one_error_line(_train(tmp_path, "text", "mle", "--model-option", "hidden=wide"), "hidden")
    assert "whole number" in line


def _a_value(option) -> list[str]:  # type: ignore[no-untyped-def]
    """Arguments that click accepts for ``option`` (the pack's modality decides the rest)."""
    import click

    if option.is_flag:
        return [option.opts[0]]
    if isinstance(option.type, click.Choice):
        value = [str(option.type.choices[0])]
    elif isinstance(option.type, click.Path):
        value = [__file__]
    elif isinstance(option.type, (click.IntRange, click.FloatRange)) and option.type.min is not None:
        low, high = option.type.min, option.type.max
        value = [str(low + (1 if option.type.min_open else 0)) if high is None else str((low + high) // 2
                 if isinstance(option.type, click.IntRange) else (low + high) / 2)]
    else:
        value = ["1"]
    return [option.opts[0], *(value * max(option.nargs, 1))]


def test_every_generate_option_of_another_modality_is_refused(tmp_path: Path) -> None:
    """A codec's generate option given for a pack of another modality: one line, exit 2, never
    ignored; walked over every option every registered codec declares."""
    import torch

    from ganforge.core.commands.generate import codec_options
    from ganforge.core.modalities.texture.family import TextureFamily
    from ganforge.exporters.onnx.export import export_generator

    plugins.reset()
    family = TextureFamily({"base": 8, "stages": 1, "local_dim": 2, "global_dim": 2, "min_width": 4},
                           {"channels": 3, "crop": 8})
    torch.manual_seed(0)
    pack = tmp_path / "t.onnx"
    export_generator(family, family.build_generator().eval(), pack, facts={}, modality="texture")
    options, owners = codec_options()
    foreign = [o for o in options if "texture" not in owners[o.name]]
    assert {"bars", "prefix", "key"} <= {o.name for o in foreign}  # one of each other modality at least
    for option in foreign:
        plugins.reset()
        result = CliRunner().invoke(cli, ["generate", str(pack), *_a_value(option), "-o", str(tmp_path / "o.png")],
                                    prog_name="ganforge")
        _one_error_line(result, f"{option.opts[0]} does not apply to texture packs")
    assert not (tmp_path / "o.png").exists()
