"""``ganforge info``: what is inside a generator pack (torch-free, onnx-free)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ..pack import PackMeta, file_sha256, open_session, session_props


def pack_info(path: Path) -> dict[str, Any]:
    """The pack's metadata plus file facts, as one JSON-ready object. A pack that ``generate``
    would refuse is refused here too, with the same line (PackError)."""
    from .. import plugins
    from ..runtime import check_pack

    session = open_session(path)
    meta = PackMeta.from_props(session_props(session), source=str(path))
    installed = meta.modality in plugins.get_registry().modalities
    check_pack(path, session, meta, plugins.codec_for(meta.modality) if installed else None)

    return {
        "path": str(path),
        "size_bytes": path.stat().st_size,
        "sha256": file_sha256(path),
        "modality_installed": installed,
        **meta.to_json(),
    }


def _shape(shape: list[int | str]) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def _print_human(data: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from ..display import printable

    def e(text: str) -> str:  # a pack's strings are a stranger's: no markup, no control characters
        return escape(printable(text))

    console = Console(highlight=False)
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column()
    modality = data["modality"] + ("" if data["modality_installed"] else
                                   "  (not installed here: install its plugin to generate)")
    for key, value in [
        ("pack", data["path"]), ("modality", modality), ("family", data["family"] or "-"),
        ("precision", data["precision"]), ("schema", data["schema"]), ("license", data["license"]),
        ("ganforge", data["version"] or "-"), ("size", f"{data['size_bytes'] / 1e6:.2f} MB"),
        ("sha256", data["sha256"]),
    ]:
        facts.add_row(key, e(str(value)))
    console.print(facts)

    inputs = Table(title="inputs (drawn in this order from PCG64(seed))", title_justify="left")
    for col in ("name", "shape", "dtype", "draw", "meaning"):
        inputs.add_column(col)
    for spec in data["inputs"]:
        inputs.add_row(*(e(str(v)) for v in (spec["name"], _shape(spec["shape"]), spec["dtype"], spec["draw"],
                                             spec["meaning"])))
    console.print(inputs)

    outputs = Table(title="outputs", title_justify="left")
    for col in ("name", "layout", "range", "meaning"):
        outputs.add_column(col)
    for spec in data["outputs"]:
        outputs.add_row(*(e(str(v)) for v in (spec["name"], spec["layout"], spec["range"], spec["meaning"])))
    console.print(outputs)

    for section in ("decoder", "train"):
        if data[section]:
            table = Table.grid(padding=(0, 2))
            table.add_column(style="bold")
            table.add_column()
            for key, value in sorted(data[section].items()):
                table.add_row(e(key), e(json.dumps(value) if not isinstance(value, str) else value))
            console.print(f"[bold underline]{section}[/]")
            console.print(table)


@click.command()
@click.argument("pack", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print exactly one JSON object (metadata, size, sha256).")
def info(pack: Path, as_json: bool) -> None:
    """Show what is inside the generator pack PACK (.onnx).

    Lists the modality, the inputs in the order the runtime draws them, the outputs, the
    decoder settings, the training facts, the declared license, the file size and sha256.
    Needs neither torch nor the modality's plugin.
    """
    data = pack_info(pack)
    if as_json:
        click.echo(json.dumps(data, indent=2, sort_keys=True))
    else:
        _print_human(data)
