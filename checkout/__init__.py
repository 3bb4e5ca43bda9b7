"""The commerce side of livecart: products and stock, orders and idempotency, payments,
the order status machine, and the fulfillment queue with its worker.

Never imports ``live``: deal pricing and announcements go through the interfaces in
``checkout.ports``, which ``app`` implements on top of the live hub.
"""
