"""Registers the editor host and its ``ganforge lsp`` command (torch-free, pygls imported lazily)."""

from __future__ import annotations

from collections.abc import Callable

import click

from ganforge.core.components import Host
from ganforge.core.hookspecs import hookimpl


@hookimpl
def ganforge_register_hosts(register: Callable[[Host], None]) -> None:
    register(Host("editor", "Language Server: generated lines at the cursor in any editor (ganforge lsp)",
                  ("text",), "ganforge.plugins.editor.server:main"))


@hookimpl
def ganforge_register_commands(cli: click.Group) -> None:
    @cli.command("lsp")
    @click.option("--pack", type=click.Path(), default=None, metavar="PACK",
                  help="Default text pack (else from the client's configuration).")
    @click.option("--log", type=click.Path(), default=None, metavar="FILE", help="Write a debug log here.")
    def lsp(pack: str | None, log: str | None) -> None:
        """Run the ganforge Language Server over stdio (for Neovim, VS Code, Emacs, Helix...).

        Commands: ganforge.generate (insert generated lines before a position), ganforge.listPacks;
        a "Generate here" code action and completion candidates. Configure the pack, count and
        temperature with initializationOptions or workspace/didChangeConfiguration.
        """
        from .server import main

        main(default_pack=pack, log_file=log)
