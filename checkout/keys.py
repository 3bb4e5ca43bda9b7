"""Every Redis key checkout uses, in one place."""

from __future__ import annotations

PREFIX = "livecart"

# The fulfillment queue: a Stream of {"order_id": N} entries, and its consumer group.
ORDERS_STREAM = f"{PREFIX}:fulfillment:orders"
ORDERS_GROUP = "fulfillment"
