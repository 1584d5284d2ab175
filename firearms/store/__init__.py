"""Typed async functions over asyncpg, one per named query in ``sql/queries``.

Store functions never begin or commit a transaction: the caller owns it.
"""
