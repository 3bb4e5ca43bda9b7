"""The neutral leaf of livecart: what ``live``, ``checkout`` and ``app`` all need — clock
and UTC formatting, Redis key and channel names, shared limits, dialect-aware SQL helpers.

Imports nothing of ``app``, ``live`` or ``checkout``, so any of them may import it.
"""
