"""chaincut.security."""
