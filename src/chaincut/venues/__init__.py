"""chaincut.venues."""
