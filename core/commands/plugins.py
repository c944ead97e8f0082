"""``ganforge plugins``: every plugin, where it came from, what it registered, what failed."""

from __future__ import annotations

import json
from typing import Any

import click


def plugins_report() -> dict[str, Any]:
    """The plugin records, the registry (name -> owning plugin, per kind) and the warnings."""
    from .. import plugins as pm

    registry = pm.get_registry()
    kinds: dict[str, dict[str, str]] = {}
    for key, owner in sorted(registry.owners.items()):
        kind, _, name = key.partition(":")
        kinds.setdefault(kind, {})[name] = owner
    return {
        "plugins": [r.to_json() for r in pm.get_records()],
        "registered": kinds,
        "warnings": list(registry.warnings),
    }


def _source(record: dict[str, Any]) -> str:
    if record["source"] == "builtin":
        return f"builtin (ganforge {record['version']})" if record["version"] else "builtin"
    dist = record["dist"] or "?"
    return f"entry point ({dist} {record['version'] or ''})".replace(" )", ")")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print exactly one JSON object.")
def plugins(as_json: bool) -> None:
    """List every plugin: where it came from, its hooks, what it registered, failures.

    Plugins are modules exposed through the entry-point group `ganforge`. The built-ins load
    first, through the same hooks: the texture, image, music and text modalities (with their
    model families and metrics), the ONNX exporter, and the Blender, editor (LSP) and MIDI
    hosts with their commands. A plugin that fails to load is skipped with one warning line,
    and nothing it registered is kept. Environment:

    \b
      GANFORGE_DISABLE_PLUGINS=a,b   do not load these plugins (entry-point names)
      GANFORGE_STRICT_PLUGINS=1      a failing plugin is an error, not a warning
    """
    from .. import plugins as pm

    pm.get_records()  # load first, so a plugin's loading warnings precede the report
    root = click.get_current_context().find_root()
    root.command.list_commands(root)  # plugin commands are registrations too
    report = plugins_report()
    if as_json:
        click.echo(json.dumps(report, indent=2, sort_keys=True))
        return

    from rich.console import Console
    from rich.markup import escape

    console = Console(highlight=False)
    for record in report["plugins"]:
        status = ("[yellow]disabled[/]" if record["disabled"] else
                  f"[red]failed: {escape(record['error'])}[/]" if record["error"] else "[green]ok[/]")
        console.print(f"[bold]{escape(record['name'])}[/]  {escape(_source(record))}  {status}")
        console.print(f"  module      {escape(record['module'])}")
        if record["hooks"]:
            hooks = ", ".join(h.removeprefix("ganforge_") for h in record["hooks"])
            console.print(f"  hooks       {escape(hooks)}")
        if record["registered"]:
            console.print(f"  registered  {escape(', '.join(record['registered']))}")
    for warning in report["warnings"]:
        console.print(f"[yellow]warning:[/] {escape(warning)}")
