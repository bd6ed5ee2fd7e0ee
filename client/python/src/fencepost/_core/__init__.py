"""The pure core shared by the sync and async twins: no I/O, no sleeping, no clients.

Reply parsing, error mapping, backoff, lease arithmetic and the breaker's and
idempotency's decisions live here once; the twins differ only in how they await.
"""
