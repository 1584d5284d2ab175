"""The exchange between partner registries (PROTOCOL.md): envelopes, trust list, inbox, outbox, effects."""
