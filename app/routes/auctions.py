"""Auctions: start one on a live, read them, bid (contract: Auctions)."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.auction_actions import place_bid, start_auction
from app.auction_schemas import AuctionEnvelope, AuctionHistory, AuctionIn, AuctionList, BidIn
from app.auth import optional_user, require_user
from app.http import operation, parse_body, path_id, respond, state
from common.times import iso_utc
from live import auctions, lives


@operation(
    "Start an auction on a live (its creator or a moderator, while live); pins its product",
    auth=True,
    body=AuctionIn,
    responses={201: AuctionEnvelope, 401: None, 403: None, 404: None, 409: None, 422: None},
    tags=("auctions",),
)
async def create(request: Request) -> Response:
    body = await parse_body(request, AuctionIn)
    view = await start_auction(state(request), await require_user(request), path_id(request), body)
    return respond(AuctionEnvelope.model_validate({"auction": view}), 201)


@operation(
    "An auction, with its accepted bids in order",
    auth="optional",
    responses={200: AuctionHistory, 404: None},
    tags=("auctions",),
)
async def read(request: Request) -> Response:
    await optional_user(request)
    async with state(request).db.read() as session:
        auction = await auctions.get(session, path_id(request))
        bids = await auctions.bids_of(session, path_id(request))
    history = [
        {"bidder": {"id": b.bidder_id, "username": b.bidder_name}, "amount_cents": b.amount_cents,
         "price_cents": b.price_cents, "leader": b.leader_id, "at": iso_utc(b.at)}
        for b in bids
    ]  # fmt: skip
    passed = json.loads(auction.passed)
    body = {"auction": auctions.auction_view(auction), "history": history, "passed": passed}
    return respond(AuctionHistory.model_validate(body))


@operation(
    "A live's auctions, newest first",
    auth="optional",
    responses={200: AuctionList, 404: None},
    tags=("auctions",),
)
async def of_live(request: Request) -> Response:
    await optional_user(request)
    async with state(request).db.read() as session:
        await lives.get_live(session, path_id(request))
        found = await auctions.of_live(session, path_id(request))
    return respond(
        AuctionList.model_validate({"auctions": [auctions.auction_view(a) for a in found]})
    )


@operation(
    "Bid (signed in, with a checkout profile; not the live's creator or moderators)",
    auth=True,
    body=BidIn,
    responses={201: AuctionEnvelope, 401: None, 403: None, 404: None, 409: None, 422: None,
               429: None},
    tags=("auctions",),
)  # fmt: skip
async def bid(request: Request) -> Response:
    body = await parse_body(request, BidIn)
    view = await place_bid(state(request), await require_user(request), path_id(request), body)
    return respond(AuctionEnvelope.model_validate({"auction": view}), 201)


routes = [
    Route("/api/lives/{id}/auctions", create, methods=["POST"]),
    Route("/api/lives/{id}/auctions", of_live, methods=["GET"]),
    Route("/api/auctions/{id}", read, methods=["GET"]),
    Route("/api/auctions/{id}/bids", bid, methods=["POST"]),
]
