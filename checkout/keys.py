"""Every Redis key checkout uses, in one place."""

from __future__ import annotations

PREFIX = "livecart"

# The fulfillment queue: a Stream of {"order_id": N} entries, and its consumer group.
ORDERS_STREAM = f"{PREFIX}:fulfillment:orders"
ORDERS_GROUP = "fulfillment"

# Set once Redis holds the stream and its group. Missing means Redis started empty
# (first run, or restarted without persistence): every unfinished order is relayed again.
ORDERS_EPOCH = f"{PREFIX}:fulfillment:epoch"
