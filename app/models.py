"""Every table of livecart, imported in one place so the metadata is complete.

Alembic's ``env.py`` and the tests import this module; nothing else needs to.
"""

from __future__ import annotations

from sqlmodel import SQLModel

from app.accounts import RevokedToken, User
from checkout.models import Product
from checkout.webhook_models import Webhook
from live.models import Live, LiveModerator

metadata = SQLModel.metadata

__all__ = ["Live", "LiveModerator", "Product", "RevokedToken", "User", "Webhook", "metadata"]
