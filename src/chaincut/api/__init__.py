"""The HTTP API: an app factory and one router per resource."""

from chaincut.api.app import create_app

__all__ = ["create_app"]
