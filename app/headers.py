"""Security headers on every HTTP answer, and a strict Content-Security-Policy on pages.

Tokens live in ``localStorage``, so any script that runs on a page can read them:
the policy lets scripts come from this origin only (no inline script, no ``eval``),
and only this origin may frame a page (no clickjacking of /live/{id}).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


def content_security_policy(media_origins: tuple[str, ...] = ()) -> str:
    """The pages' policy; ``media_origins`` (``LIVECART_MEDIA_ORIGINS``) may serve video
    and be fetched from (an HLS player reads playlists and segments with fetch)."""
    extra = "".join(f" {origin}" for origin in media_origins)
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            # Product images may come from any HTTPS host; data: for inline SVG icons.
            "img-src 'self' https: data:",
            # Video from a CDN, played through blob: URLs by a media-source player.
            f"media-src 'self' https: blob:{extra}",
            # 'self' covers same-origin ws:/wss: in CSP Level 3 (Chromium, Firefox, Safari).
            f"connect-src 'self'{extra}",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'self'",
        ]
    )


CONTENT_SECURITY_POLICY = content_security_policy()
EVERY_ANSWER = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
]


class SecurityHeaders:
    """ASGI middleware: adds the headers above unless the app set them itself."""

    def __init__(self, app: ASGIApp, policy: str = CONTENT_SECURITY_POLICY) -> None:
        self.app = app
        self.page_only = [(b"content-security-policy", policy.encode())]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                message["headers"] = with_security_headers(headers, self.page_only)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def with_security_headers(
    headers: list[tuple[bytes, bytes]], page_only: list[tuple[bytes, bytes]]
) -> list[tuple[bytes, bytes]]:
    present = {name.lower() for name, _ in headers}
    added = EVERY_ANSWER
    content_type = next((v for n, v in headers if n.lower() == b"content-type"), b"")
    if content_type.startswith(b"text/html"):
        added = EVERY_ANSWER + page_only
    return headers + [(name, value) for name, value in added if name not in present]
