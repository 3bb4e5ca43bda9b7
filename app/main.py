"""``uvicorn app.main:app``: the app built from environment variables."""

from __future__ import annotations

import logging

from app.factory import create_app
from app.settings import Settings

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

app = create_app(Settings.from_env(), tune_gc=True)
