"""The live side of livecart: live sessions, the real-time hub and its broker backends,
the event log, pins and flash deals, presence, chat and moderation.

Never imports ``checkout``; ``app`` connects the two.
"""
