"""The built-in CLI commands, one module each; ``ganforge.core.cli`` imports them on demand."""
