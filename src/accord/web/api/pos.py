"""The point-of-sale API: the customer change feed and posting transactions."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel

from accord.clock import zone_named
from accord.service import pos
from accord.web.auth import Identity, api_editor, api_viewer
from accord.web.params import HubId, Seq
from accord.web.state import WebState, web_state

router = APIRouter(tags=["point of sale"])


class FeedItemOut(BaseModel):
    seq: int
    id: int
    active: bool
    fields: dict[str, Any]


class Feed(BaseModel):
    items: list[FeedItemOut]
    next: int  # ask with after=next for what changed since


class TransactionIn(BaseModel):
    customer_id: HubId
    number: str
    kind: str = "sale"
    amount: float
    points: int | None = None
    location: str | None = None
    at: str | None = None


class TransactionPosted(BaseModel):
    id: int
    created: bool


@router.get("/changes", response_model=Feed)
def changes(
    after: Seq = 0,
    limit: int = Query(500, ge=1, le=5000),
    location_group: str | None = Query(None, description="only this group's customers"),
    _: Identity = Depends(api_viewer),
    state: WebState = Depends(web_state),
) -> Feed:
    items, next_seq = pos.changes_since(state.store, after, limit, location_group)
    return Feed(
        items=[FeedItemOut(seq=i.seq, id=i.id, active=i.active, fields=i.fields) for i in items],
        next=next_seq,
    )


@router.post("/transactions", response_model=TransactionPosted, status_code=201)
def post_transaction(
    body: TransactionIn,
    response: Response,
    _: Identity = Depends(api_editor),
    state: WebState = Depends(web_state),
) -> TransactionPosted:
    new_id, created = pos.post_transaction(
        state.store,
        customer_id=body.customer_id,
        number=body.number,
        kind=body.kind,
        amount=body.amount,
        points=body.points,
        location=body.location,
        at=pos.parse_time(body.at),
        clock=state.clock,
        zone=zone_named(state.config.hub.time_zone),
    )
    if not created:
        response.status_code = 200
    return TransactionPosted(id=new_id, created=created)
