"""The editor host: one Language Server (``ganforge lsp``) every editor can talk to."""
