"""chaincut.api."""
