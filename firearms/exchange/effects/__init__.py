"""Effects of received notices, one module per family; importing this package registers them all."""

from firearms.exchange.effects import keys

__all__ = ["keys"]
