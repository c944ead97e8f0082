"""The ``ganforge`` command line: thin commands over the library.

Importing this module is fast and torch-free: each command lives in ``ganforge.core.commands``
and is imported only when run (or listed by ``--help``); torch is imported inside the training
and export commands. Plugins add commands through ``ganforge_register_commands(cli)``.
"""

from __future__ import annotations

from typing import Any

import click

from . import __version__
from .components import resolve
from .errors import GanforgeError

#: Built-in commands, imported on demand.
COMMANDS: dict[str, str] = {
    "train": "ganforge.core.commands.train:train",
    "export": "ganforge.core.commands.export:export",
    "generate": "ganforge.core.commands.generate:build",
    "info": "ganforge.core.commands.info:info",
    "plugins": "ganforge.core.commands.plugins:plugins",
    "demo": "ganforge.core.commands.demo:demo",
    "eval": "ganforge.core.commands.eval:eval_",
}


class UserError(click.ClickException):
    """A :class:`GanforgeError` on its way out: one line on stderr, exit status 2."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.message}", err=True)


class Interrupted(click.ClickException):
    """Ctrl-C outside training (which saves and exits 0 itself): one line, exit status 130."""

    exit_code = 130

    def show(self, file: Any = None) -> None:
        click.echo(f"interrupted: {self.message}", err=True)


class GanforgeGroup(click.Group):
    """The root group: lazy built-in commands, plugin commands, user errors as one line."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._built: dict[str, click.Command] = {}
        self._own = set(self.commands)  # commands defined here, not by plugins
        self._loaded_for: object = None  # the plugin load the commands were made for

    def _sync_plugins(self) -> None:
        """(Re)build plugin-dependent commands when the plugins were (re)loaded."""
        from . import plugins

        state = plugins.get_state()
        if state is self._loaded_for:
            return
        for name in set(self.commands) - self._own:
            del self.commands[name]
        self._built.clear()
        self._loaded_for = state
        plugins.register_commands(self, reserved=COMMANDS)

    def list_commands(self, ctx: click.Context) -> list[str]:
        try:
            self._sync_plugins()
        except GanforgeError as e:
            raise UserError(str(e)) from None
        return list(COMMANDS) + sorted(n for n in self.commands if n not in COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        try:
            self._sync_plugins()
            if name in COMMANDS:
                if name not in self._built:
                    obj = resolve(COMMANDS[name])
                    # A command whose options depend on the plugins is built by a function.
                    self._built[name] = obj if isinstance(obj, click.Command) else obj()
                return self._built[name]
        except GanforgeError as e:
            raise UserError(str(e)) from None
        return self.commands.get(name)

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        try:
            return super().make_context(*args, **kwargs)
        except GanforgeError as e:
            raise UserError(str(e)) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except GanforgeError as e:
            raise UserError(str(e)) from None
        except KeyboardInterrupt:
            raise Interrupted("stopped by the user") from None


@click.group(cls=GanforgeGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="ganforge")
def cli() -> None:
    """Train small GANs on your own data and generate with them anywhere.

    \b
    Typical session:
      ganforge train texture --data photos/ --steps 4000 --out runs/bricks
      ganforge export runs/bricks -o bricks.onnx
      ganforge generate bricks.onnx --seed 7 --size 1024x1024 -o out/
      ganforge info bricks.onnx

    A generator pack (.onnx) runs with onnxruntime and numpy only: no torch needed to
    generate. `ganforge plugins` lists the installed modalities, exporters and hosts.
    """


def main() -> None:
    """Console-script entry point (``ganforge``)."""
    cli.main(prog_name="ganforge")


if __name__ == "__main__":
    main()
