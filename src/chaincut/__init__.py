"""chaincut: contact tracing and border reopening for public-health authorities."""

__all__ = ["__version__"]

__version__ = "0.1.0"
