"""chaincut.policy."""
