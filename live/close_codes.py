"""Every WebSocket close code livecart sends, in one place.

Clients act on the code, not the reason text:

- 1009: a client frame was over 4 KiB; fix the client.
- 1011: the server hit an unexpected error with this socket; reconnect with ``after``.
- 1013: try again later — the process is overloaded or a socket cap was reached. Retry
  with jittered backoff; nothing was done for the socket.
- 4401: the token is bad or revoked; reconnect without it (anonymous) or sign in again.
- 4403: banned from this live (or, on ``/ws/fulfillment``, not staff); do not reconnect.
- 4404: the live does not exist; do not reconnect.
- 4408: evicted for not reading fast enough; reconnect with ``after`` to resume.
"""

from __future__ import annotations

TOO_BIG = 1009
INTERNAL_ERROR = 1011
TRY_AGAIN_LATER = 1013
BAD_TOKEN = 4401
BANNED = 4403
UNKNOWN_LIVE = 4404
EVICTED = 4408
