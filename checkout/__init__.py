"""The commerce side of livecart: catalog and stock (orders and fulfillment follow).

Never imports ``live``; ``app`` connects the two.
"""
