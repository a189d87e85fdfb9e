"""chaincut.domain."""
