"""chaincut.store."""
