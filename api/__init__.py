"""The HTTP surface of the registry (Litestar): handlers, auth guards, problem details, OpenAPI."""

from api.app import create_app

__all__ = ["create_app"]
