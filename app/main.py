"""``uvicorn app.main:app``: the app built from environment variables."""

from __future__ import annotations

import logging

from starlette.middleware import Middleware

from app.factory import create_app
from app.settings import Settings
from app.stopping import StopGuard

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

# StopGuard: this is the server process's app, so its signals follow app.stopping.
app = create_app(Settings.from_env(), middleware=[Middleware(StopGuard)], tune_gc=True)
