"""The live side of livecart: live sessions, their lifecycle and moderators.

Never imports ``checkout``; ``app`` connects the two.
"""
