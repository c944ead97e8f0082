"""``ganforge train <modality>``: one subcommand per registered modality.

The options are validated into a torch-free :class:`TrainConfig` first; torch is imported only
when training really starts.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from ..display import a_model
from ..errors import DataError, RunError
from ..limits import DEVICES


def _options() -> list[click.Option]:
    """The training options every modality shares (fresh instances per subcommand); defaults
    come from :class:`TrainConfig` (torch-free), so the help always shows the real ones."""
    from ..training.config import LOSSES, TrainConfig

    d = TrainConfig()
    return [
        click.Option(["--data"], metavar="PATH",
                     help="Training data: a folder of files for this modality (each modality's "
                          "`train NAME --help` says which, and its built-in sets). Required unless --resume."),
        click.Option(["--out"], type=click.Path(path_type=Path, file_okay=False), metavar="RUN_DIR",
                     help="Run directory (checkpoints, samples, config.json). Default: "
                          "runs/<modality>-<timestamp>; required with --resume."),
        click.Option(["--steps"], type=click.IntRange(min=1), default=d.steps, show_default=True,
                     help="Total training steps of the run; with --resume, train on up to this total."),
        click.Option(["--minutes"], type=float, default=None, metavar="M",
                     help="Train for M minutes of wall-clock time (this invocation), then save a "
                          "checkpoint and stop; without --steps the time alone decides. With --resume, "
                          "train M more minutes. Fractions are fine (0.5 = 30 s)."),
        click.Option(["--resume"], is_flag=True,
                     help="Continue the run in --out from its latest checkpoint, with its saved settings."),
        click.Option(["--seed"], type=int, default=d.seed, show_default=True,
                     help="Seed of the run: data order, noise and initial weights."),
        click.Option(["--device"], type=click.Choice(DEVICES), default="auto", show_default=True,
                     help="Where to train: 'auto' picks CUDA when available."),
        click.Option(["--family"], metavar="NAME",
                     help="Model family (networks + losses) to train; default: the modality's. "
                          "`ganforge plugins` lists them."),
        click.Option(["--batch"], type=click.IntRange(min=1), default=d.batch, show_default=True,
                     help="Batch size."),
        click.Option(["--crop", "--size"], type=click.IntRange(min=8), default=d.crop, show_default=True,
                     help="Training crop size in pixels (images: the side every image is fitted to, 32, 64 "
                          "or 128). Refused where the family has no crop (music: see --bars)."),
        click.Option(["--data-option"], multiple=True, metavar="KEY=VALUE",
                     help="A modality data option, repeatable (images: fit=pad|crop|stretch, hflip=false, "
                          "limit=N; textures: holdout=0.15 (a band of each photo never trained on, "
                          "where the SWD and best checkpoint are measured; off by default), hflip, "
                          "vflip, rot90). Values are JSON "
                          "(true, 3, \"x\") or plain strings."),
        click.Option(["--lr"], type=click.FloatRange(min=0, min_open=True), default=None,
                     help=f"Learning rate of both networks (default: G {d.lr_g:g}, D {d.lr_d:g}). Text "
                          "families refuse it: they set theirs with --model-option lr_mle=X / lr_adv=X."),
        click.Option(["--loss"], type=click.Choice(LOSSES), default=None,
                     help="GAN loss (default: the family's: ns_r1 for textures and images, hinge for music; "
                          "text families have their own and refuse it)."),
        click.Option(["--r1-gamma"], type=click.FloatRange(min=0), default=None,
                     help=f"Weight of the R1 penalty on real data (default {d.r1_gamma:g}; 0 turns it off; "
                          "unused by --loss wgan_gp, refused by text families)."),
        click.Option(["--r1-every"], type=click.IntRange(min=1), default=None, metavar="STEPS",
                     help=f"Lazy R1: penalise every this many D steps (default {d.r1_every}; refused by text "
                          "families)."),
        click.Option(["--lr-decay-steps"], type=click.IntRange(min=0), default=d.lr_decay_steps, show_default=True,
                     metavar="STEPS", help="Keep the learning rates until this step, then lower both as "
                     "1/sqrt(step) (half at 4x STEPS); a function of the step alone, so resumed and one-go "
                     "runs train alike. 0: constant."),
        click.Option(["--model-option"], multiple=True, metavar="KEY=VALUE",
                     help="A model-family option, repeatable (music: channels=128, mode_seeking=0; "
                          "texture: base=64; text: lr_mle=0.01, hidden=256). Values are JSON or plain "
                          "strings; an unknown key or a wrong type is refused."),
        click.Option(["--checkpoint-every"], type=click.IntRange(min=1), default=d.checkpoint_every, show_default=True,
                     metavar="STEPS", help="Save a checkpoint every this many steps."),
        click.Option(["--checkpoint-minutes"], type=click.FloatRange(min=0, min_open=True),
                     default=d.checkpoint_minutes,
                     show_default=True, metavar="M", help="Also save one at least every M minutes."),
        click.Option(["--keep-last"], type=click.IntRange(min=1), default=d.keep_last, show_default=True,
                     metavar="N", help="Keep the newest N step checkpoints (older ones are deleted; the best "
                     "is kept apart). `export --checkpoint STEP` exports any of them."),
        click.Option(["--sample-every"], type=click.IntRange(min=1), default=d.sample_every, show_default=True,
                     metavar="STEPS", help="Write a preview image of samples every this many steps."),
        click.Option(["--patience"], type=click.IntRange(min=0), default=d.patience, show_default=True,
                     metavar="N", help="Early stopping: end the run after N sample evaluations (every "
                     "--sample-every steps) without a better metric; 0 trains all --steps. `export "
                     "--checkpoint best` then exports the best one."),
        click.Option(["--progress/--no-progress"], default=True, help="Show a progress bar."),
    ]


#: CLI option -> TrainConfig field (only those that differ in name or shape).
_FIELDS = {"lr": ("lr_g", "lr_d"), "data_option": ("data_options",), "model_option": ("model",)}
#: Options that are not TrainConfig fields.
_NOT_CONFIG = {"resume", "progress"}


def _fields_of(name: str) -> tuple[str, ...]:
    return _FIELDS.get(name, (name,))


def _field_label(option_names: Any, flags: dict[str, str] | None) -> Any:
    """``field -> the flag it came from`` (``lr_g`` -> ``--lr``; text's ``crop`` -> ``--max-len``),
    for errors that must name what the user typed."""
    option_of = {field_name: name for name in option_names for field_name in _fields_of(name)}

    def label(field_name: str) -> str:
        name = option_of.get(field_name, field_name)
        return (flags or {}).get(name) or "--" + name.replace("_", "-")

    return label


def _given_fields(explicit: set[str]) -> set[str]:
    """The TrainConfig fields set by the flags the user typed."""
    return {field_name for name in explicit - _NOT_CONFIG for field_name in _fields_of(name)}


def _explicit(ctx: click.Context) -> set[str]:
    return {name for name in ctx.params
            if ctx.get_parameter_source(name) not in (ParameterSource.DEFAULT, None)}


def parse_data_options(items: Any, flag: str = "--data-option") -> dict[str, Any]:
    """``("fit=crop", "limit=300")`` -> ``{"fit": "crop", "limit": 300}`` (JSON values, else strings)."""
    import json

    out: dict[str, Any] = {}
    for item in items or ():
        key, sep, raw = str(item).partition("=")
        if not sep or not key.strip():
            raise RunError(f"{flag} {item!r} is not KEY=VALUE")
        try:
            out[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            out[key.strip()] = raw
    return out


def build_config(modality_name: str, params: dict[str, Any], explicit: set[str],
                 flags: dict[str, str] | None = None) -> Any:
    """The run's :class:`TrainConfig` from CLI params (merged with the saved one on --resume by
    :func:`~ganforge.core.training.config.resume_config`, the rule the Python API obeys too).
    ``flags``: option name -> the flag the user typed it as (text's ``crop`` is ``--max-len``)."""
    from .. import plugins
    from ..training.config import UNBOUNDED_STEPS, TrainConfig, resume_config

    params = dict(params)
    if params.get("data_option") is not None:
        params["data_option"] = parse_data_options(params["data_option"]) or None
    if params.get("model_option") is not None:
        params["model_option"] = parse_data_options(params["model_option"], "--model-option") or None
    values: dict[str, Any] = {}
    for name, value in params.items():
        if name in _NOT_CONFIG or value is None:
            continue
        for field_name in _fields_of(name):
            values[field_name] = str(value) if isinstance(value, Path) else value

    if params["resume"]:
        if params["out"] is None:
            raise RunError("--resume needs --out RUN_DIR (the run to continue)")
        saved_path = params["out"] / "config.json"
        if not saved_path.is_file():
            raise RunError(f"{params['out']}: not a run directory (no config.json); nothing to resume")
        given = {field_name: values.get(field_name) for field_name in _given_fields(explicit)}
        cfg = resume_config(TrainConfig.load(saved_path), {"modality": modality_name, **given}, params["out"],
                            _field_label(params, flags))
        cfg.out = str(params["out"])
        if "steps" in explicit and "minutes" not in explicit:
            cfg.minutes = None  # an explicit step target, not the saved time budget, ends this run
    else:
        if not values.get("data"):
            accepts = plugins.modality(modality_name).data_help or "a folder of training files"
            raise DataError(f"--data is required: {accepts}")
        data = values["data"]
        if not data.startswith("builtin:") and not Path(data).exists():
            raise DataError(f"{data}: no such file or folder")
        if params["out"] is None:
            values["out"] = f"runs/{modality_name}-{time.strftime('%Y%m%d-%H%M%S')}"
        family = plugins.family(modality_name, params["family"])
        cfg = TrainConfig(**{**values, "modality": modality_name, "family": family.name})
    if "minutes" in explicit and "steps" not in explicit:
        cfg.steps = UNBOUNDED_STEPS  # the time decides
    cfg.validate()
    return cfg


def run_training(cfg: Any, *, resume: bool, progress: bool, given: set[str] | None = None,
                 label: Any = None) -> Any:
    """Start (or resume) training: the one place the CLI imports torch for training. ``given``
    and ``label``: see :func:`ganforge.core.training.run.train`."""
    from .. import plugins
    from ..components import resolve
    from ..training.run import train as train_run

    modality = plugins.modality(cfg.modality)
    return train_run(cfg, resume=resume, progress=progress,
                     family_factory=resolve(plugins.family(cfg.modality, cfg.family).factory),
                     dataset_factory=resolve(modality.data) if modality.data else None, given=given, label=label)


def _modality_options(modality_name: str) -> list[click.Option]:
    """Training options a modality's codec adds (``Codec.train_options``; text: --level, --max-len).
    One named like a shared option replaces it (text's --max-len is ``crop``; texture's --crop
    and --batch have their own defaults); the others' values go to the run's ``data_options``."""
    from .. import plugins
    from ..errors import GanforgeError

    try:
        codec = plugins.codec_for(modality_name)
    except GanforgeError:
        return []
    return list(codec.train_options)


def _make_command(modality_name: str, description: str) -> click.Command:
    extra = _modality_options(modality_name)
    shared = _options()
    # An extra option named like a shared one (texture: --crop, --batch) replaces it with the
    # modality's own default and help; the others are data options.
    replaced = {o.name for o in extra} & {o.name for o in shared}
    extra_data = {o.name for o in extra} - replaced

    def callback(**params: Any) -> None:
        ctx = click.get_current_context()
        data_options = {k: v for k, v in ((k, params.pop(k)) for k in list(params) if k in extra_data)
                        if v is not None}
        if params["resume"] and data_options:
            raise RunError(f"{', '.join('--' + k.replace('_', '-') for k in data_options)} cannot change "
                           "when resuming (the run keeps its saved data options)")
        flags = {o.name: o.opts[0] for o in ctx.command.params if o.name and o.opts}
        cfg = build_config(modality_name, params, _explicit(ctx) - extra_data, flags)
        if not params["resume"]:
            cfg.data_options = {**cfg.data_options, **data_options}
        explicit = _explicit(ctx) - extra_data
        result = run_training(cfg, resume=params["resume"], progress=params["progress"],
                              given=_given_fields(explicit), label=_field_label(params, flags))
        if result.interrupted:
            click.echo(f"interrupted at step {result.step}; resume with: ganforge train {modality_name} "
                       f"--out {result.run_dir} --resume", err=True)
            return
        if result.out_of_time:
            click.echo(f"stopped after {result.minutes:.3g} minutes at step {result.step}; continue with: "
                       f"ganforge train {modality_name} --out {result.run_dir} --resume --minutes {cfg.minutes:g}")
        else:
            click.echo(f"trained {result.step} steps; run: {result.run_dir}")
        click.echo(f"export with: ganforge export {result.run_dir} -o {Path(result.run_dir).name}.onnx")

    from .. import plugins

    data_help = plugins.get_registry().modalities[modality_name].data_help
    for option in shared:
        if option.name == "data" and data_help:  # each modality says what it reads
            option.help = f"Training data: {data_help}. Required unless --resume."
    params = [o for o in shared if o.name not in replaced] + extra
    return click.Command(
        modality_name, callback=callback, params=params,
        short_help=description,
        help=f"""Train {a_model(modality_name)}: {description}.

        Checkpoints are written atomically to the run directory every --checkpoint-every steps
        and every --checkpoint-minutes. Ctrl-C (SIGINT) or SIGTERM saves a checkpoint and exits
        cleanly; continue with --resume. --steps is the run's total, so resuming a finished run
        with a larger --steps trains it further. --minutes M bounds the time instead: the run
        stops after M minutes (a checkpoint, then a hint how to continue), and `--resume
        --minutes M` trains M more; with both, whichever comes first ends the run.
        """,
    )


class TrainGroup(click.Group):
    """One subcommand per registered modality, so a plugin's modality gets `ganforge train NAME`."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        from .. import plugins

        return sorted(plugins.get_registry().modalities)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        from .. import plugins

        modality = plugins.get_registry().modalities.get(name)
        if modality is None or modality.data is None:  # a modality without a trainer (runtime only)
            return None
        return _make_command(name, modality.description)


@click.group(cls=TrainGroup)
def train() -> None:
    """Train a GAN on your data; one subcommand per registered modality.

    \b
    Example:
      ganforge train texture --data photos/ --steps 4000 --out runs/bricks
      ganforge train texture --out runs/bricks --steps 8000 --resume
      ganforge train texture --data photos/ --minutes 30 --out runs/walls
      ganforge train texture --out runs/walls --resume --minutes 15
    """
