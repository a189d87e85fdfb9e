"""chaincut.whereabouts."""
