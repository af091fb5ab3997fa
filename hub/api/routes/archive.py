"""The archive over HTTP (docs/archive.md): the signed tree heads and consistency between them
for every caller (heads are meant to be published), an inclusion proof of a message for whoever
may read it, and a head signed on demand by an administrator (on the audit log)."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from hub.api.auth import Caller, authenticate, require
from hub.api.models import Reasoned
from hub.api.problems import Problem
from hub.api.routes.messages import ERRORS, readable
from hub.api.state import ApiState, api_state
from hub.archive.heads import SignedHead
from hub.archive.merkle import ProofError
from hub.ops.archive import ArchiveError, consistency, inclusion, sign_now
from hub.ops.tokens import Role

router = APIRouter()
Auth = Annotated[Caller, Depends(authenticate)]
State = Annotated[ApiState, Depends(api_state)]


class HeadOut(BaseModel):
    """A signed tree head: ``signed`` (base64) are the exact bytes the hub's key signed."""

    size: int
    root: str
    at: str
    signed: str
    signature: str


class EntryProof(BaseModel):
    """One entry, its leaf hash and its RFC 9162 audit path (hex, leaf side first)."""

    index: int
    kind: str
    entry: str | None
    leaf: str
    path: list[str]


class InclusionOut(BaseModel):
    head: HeadOut
    proofs: list[EntryProof]


class ConsistencyOut(BaseModel):
    old: HeadOut
    new: HeadOut
    proof: list[str]


def _head(head: SignedHead) -> HeadOut:
    return HeadOut.model_validate(head.as_json())


@router.get("/v1/archive/heads", response_model=list[HeadOut], responses=ERRORS)
async def heads(caller: Auth, state: State) -> list[HeadOut]:
    """Every signed tree head, smallest first."""
    return [_head(h) for h in await state.store.heads()]


@router.get("/v1/archive/consistency", response_model=ConsistencyOut, responses=ERRORS)
async def consistency_proof(
    caller: Auth, state: State, old: Annotated[int, Query(ge=0)], new: Annotated[int, Query(ge=1)]
) -> ConsistencyOut:
    """The proof that the signed head of ``old`` entries is a prefix of that of ``new``."""
    try:
        return ConsistencyOut.model_validate(await consistency(state.store, old, new))
    except ArchiveError as exc:
        raise Problem(404, "not_found", str(exc)) from None


@router.get("/v1/messages/{message_id}/proof", response_model=InclusionOut, responses=ERRORS)
async def message_proof(message_id: str, caller: Auth, state: State) -> InclusionOut:
    """Every entry of a message (its envelope, its timeline) proven under a signed head (a
    fresh one when the latest does not cover them all yet)."""
    await readable(state, caller, message_id)
    try:
        data = await inclusion(state.store, message_id, None, state.config)
    except (ArchiveError, ProofError) as exc:
        raise Problem(404, "not_found", str(exc)) from None
    return InclusionOut.model_validate(data)


@router.post("/v1/admin/archive/heads", response_model=HeadOut, responses=ERRORS)
async def sign_head(body: Reasoned, caller: Auth, state: State) -> HeadOut:
    """Sign a tree head over the log as it is now (on the audit log, with the reason)."""
    require(caller, Role.ADMIN)
    head = await sign_now(state.store, state.config)
    await state.store.audit(
        caller.name, caller.role.value, "archive.sign", str(head.size), body.reason,
        json.dumps({"root": head.root.hex()}),
    )  # fmt: skip
    return _head(head)
