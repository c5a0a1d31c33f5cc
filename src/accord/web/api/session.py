"""Who am I (API)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from accord.web.auth import Identity, api_viewer

router = APIRouter(tags=["session"])


class Me(BaseModel):
    name: str
    role: str


@router.get("/me", response_model=Me)
def me(identity: Identity = Depends(api_viewer)) -> Me:
    return Me(name=identity.user.name, role=identity.user.role)
