"""A live's timeline, for its replay page and anyone building one (contract: Replay and
stream-time sync). Read from the event log (``live.timeline``); an ended live's
timeline never changes, so caches may keep it."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.auth import optional_user
from app.http import operation, path_id, respond, state
from app.replay_schemas import Timeline, TimelineEntry
from common.times import iso_utc
from live import lives, timeline
from live.models import LiveStatus

ENDED_MAX_AGE_S = 300  # an ended live's timeline is final


@operation(
    "Every pin (with its deal), auction and giveaway of a live, with offset_ms and "
    "end_offset_ms from started_at",
    auth="optional",
    responses={200: Timeline, 404: None},
    tags=("live feed",),
)
async def get_timeline(request: Request) -> Response:
    await optional_user(request)
    live_id = path_id(request, "live")
    async with state(request).db.read() as session:
        live = await lives.get_live(session, live_id)
        entries = await timeline.read(session, live_id, live.started_at)
    body = Timeline(
        live_id=live_id, status=live.status,
        started_at=iso_utc(live.started_at) if live.started_at else None,
        ended_at=iso_utc(live.ended_at) if live.ended_at else None,
        recording_url=live.recording_url,
        timeline=[TimelineEntry.model_validate(e) for e in entries],
    )  # fmt: skip
    response = respond(body)
    if live.status == LiveStatus.ENDED:
        response.headers["Cache-Control"] = f"public, max-age={ENDED_MAX_AGE_S}"
    else:
        response.headers["Cache-Control"] = "no-cache"
    return response


routes = [Route("/api/lives/{id}/timeline", get_timeline, methods=["GET"])]
