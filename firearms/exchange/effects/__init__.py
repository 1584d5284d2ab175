"""Effects of received notices, one module per family; importing this package registers them all."""

from firearms.exchange.effects import consents, keys, licences, reports, shipments, traces

__all__ = ["consents", "keys", "licences", "reports", "shipments", "traces"]
