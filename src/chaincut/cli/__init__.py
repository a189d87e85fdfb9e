"""The ``chaincut`` command line: parse, call a service, print."""

from chaincut.cli.app import app, main

__all__ = ["app", "main"]
