"""A national firearms registry: the domain, with no knowledge of HTTP or the command line."""

__all__ = ["__version__"]

__version__ = "0.1.0"
