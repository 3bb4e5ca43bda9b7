"""The web pages: plain HTML, CSS and JavaScript modules from ``static/`` (no build step)."""

from __future__ import annotations

import mimetypes
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from app.errors import ApiError
from app.http import parse_id

STATIC_DIR = Path(__file__).resolve().parents[2] / "static"


def _page(name: str, *, with_id: bool = False) -> Route:
    async def page(request: Request) -> Response:
        if with_id:
            parse_id(str(request.path_params["id"]), "page")  # odd ids: 404, like the API
        path = STATIC_DIR / name
        if not path.is_file():
            raise ApiError(404, "not_found", "page not found")
        return FileResponse(path, media_type="text/html", headers={"Cache-Control": "no-cache"})

    path = "/" if name == "index.html" else f"/{name.removesuffix('.html')}"
    return Route(
        path + ("/{id}" if with_id else ""), page, methods=["GET"], include_in_schema=False
    )


# Streaming formats Python's table may not know (or knows wrongly: .ts as TypeScript).
mimetypes.add_type("application/vnd.apple.mpegurl", ".m3u8")
mimetypes.add_type("video/mp2t", ".ts")
mimetypes.add_type("video/iso.segment", ".m4s")


def media_routes(media_dir: str | None) -> list[BaseRoute]:
    """``LIVECART_MEDIA_DIR`` at ``/media/`` (recordings, HLS), when it is set."""
    if media_dir is None:
        return []
    return [Mount("/media", app=StaticFiles(directory=media_dir), name="media")]


routes: list[BaseRoute] = [
    _page("index.html"),
    _page("live.html", with_id=True),
    _page("studio.html", with_id=True),
    _page("fulfillment.html"),
    _page("orders.html"),
    _page("replay.html", with_id=True),
    Mount("/static", app=StaticFiles(directory=STATIC_DIR, check_dir=False), name="static"),
]
