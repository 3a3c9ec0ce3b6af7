"""A FastAPI template on the unit of work: routes call services, errors become status codes.

``create_app(container)`` builds the app around a :class:`~examples.di_service.containers.
Container`: its lifespan connects the client (and creates the indexes) at start-up, runs the
outbox relay as a task (it publishes a "transfer completed" notification for each transfer
committed, ``GET /notifications`` lists them), and stops both at shutdown. Each request's
service call gets a new unit of work from the container.

Domain and unit-of-work errors map to HTTP statuses in one table, :data:`STATUS_OF`:

- ``uow.NotFoundError`` (an unknown account): 404;
- ``uow.ConcurrencyError`` (the account changed since the client read it, or a concurrent
  request updating it won the race: the unit's write conflict) and
  ``odm.DuplicateKeyError`` (an account id that exists): 409;
- ``BankError`` (insufficient funds, a transfer to the same account): 422, as FastAPI answers
  a request body that does not validate.

``/docs`` serves the OpenAPI documentation.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PositiveInt

import odm
from examples.bank.domain import BankError
from examples.di_service import services
from examples.di_service.containers import Container
from uow import ConcurrencyError, NotFoundError

# ---------------------------------------------------------------- request and response bodies


class OpenAccount(BaseModel):
    id: str = Field(pattern=r"^[a-z0-9_-]{1,32}$", examples=["alice"])
    owner: str = Field(min_length=1, max_length=100, examples=["Alice Martin"])
    balance: int = Field(default=0, ge=0, examples=[100])


class AccountOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    owner: str
    balance: int
    version: int = Field(description="Send it back with a PATCH: 409 if the account changed since")


class Rename(BaseModel):
    owner: str = Field(min_length=1, max_length=100)
    version: int = Field(description="The version the client read (GET /accounts/{id})")


class TransferIn(BaseModel):
    source: str = Field(examples=["alice"])
    target: str = Field(examples=["bob"])
    amount: PositiveInt = Field(examples=[30])


class TransferOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: odm.ObjectId
    source: str
    target: str
    amount: int
    at: Annotated[datetime, AfterValidator(lambda at: at.replace(tzinfo=UTC))]  # stored in UTC


class NotificationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    transfer: str = Field(description="The ledger entry's id")
    source: str
    target: str
    amount: int


class Problem(BaseModel):
    detail: str


def problems(*codes: int) -> dict[int | str, dict[str, object]]:
    """The ``responses=`` of a route: its error statuses in the OpenAPI document."""
    return {code: {"model": Problem} for code in codes}


# ---------------------------------------------------------------- routes

router = APIRouter()


@router.post(
    "/accounts", status_code=201, response_model=AccountOut,
    responses=problems(409),
)
async def open_account(body: OpenAccount) -> AccountOut:
    account = await services.open_account(body.id, body.owner, body.balance)
    return AccountOut.model_validate(account)


@router.get("/accounts", response_model=list[AccountOut])
async def list_accounts() -> list[AccountOut]:
    return [AccountOut.model_validate(a) for a in await services.accounts()]


@router.get("/accounts/{account_id}", response_model=AccountOut, responses=problems(404))
async def get_account(account_id: str) -> AccountOut:
    return AccountOut.model_validate(await services.get_account(account_id))


@router.patch("/accounts/{account_id}", response_model=AccountOut, responses=problems(404, 409))
async def rename_account(account_id: str, body: Rename) -> AccountOut:
    account = await services.rename(account_id, body.owner, body.version)
    return AccountOut.model_validate(account)


@router.get(
    "/accounts/{account_id}/transfers", response_model=list[TransferOut], responses=problems(404)
)
async def statement(account_id: str) -> list[TransferOut]:
    return [TransferOut.model_validate(t) for t in await services.statement(account_id)]


@router.post(
    "/transfers", status_code=201, response_model=TransferOut,
    responses=problems(404, 422),
)
async def transfer(body: TransferIn) -> TransferOut:
    entry = await services.transfer(body.source, body.target, body.amount)
    return TransferOut.model_validate(entry)


@router.get("/notifications", response_model=list[NotificationOut])
async def notifications(request: Request) -> list[NotificationOut]:
    """The "transfer completed" notifications the outbox relay delivered so far."""
    received = request.app.state.container.notifications().received
    return [NotificationOut.model_validate(n) for n in received]


# ---------------------------------------------------------------- the app

STATUS_OF: dict[type[Exception], int] = {
    NotFoundError: 404,
    ConcurrencyError: 409,
    odm.DuplicateKeyError: 409,
    BankError: 422,
}
"""The HTTP status of each error the services raise (subclasses included)."""


async def problem(request: Request, error: Exception) -> JSONResponse:
    code = next(code for kind, code in STATUS_OF.items() if isinstance(error, kind))
    return JSONResponse({"detail": str(error)}, status_code=code)


def create_app(container: Container | None = None) -> FastAPI:
    """The app on ``container`` (default: a new one on ``$MONGODB_URI``)."""
    if container is None:
        container = Container()
        container.config.uri.from_env("MONGODB_URI", required=True)
    resources = container  # for the lifespan below (a closure does not keep the narrowing)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await resources.init_resources()  # type: ignore[misc]  # the client (async resource)
        relaying: asyncio.Task[None] | None = None
        try:
            await services.prepare_database()
            relay = await resources.relay()  # type: ignore[misc]
            relaying = asyncio.create_task(relay.run(), name="outbox relay")
            yield
        finally:
            if relaying is not None:
                relaying.cancel()  # undelivered events wait in the outbox for the next run
                with contextlib.suppress(asyncio.CancelledError):
                    await relaying
            await resources.shutdown_resources()  # type: ignore[misc]

    app = FastAPI(
        title="Bank API",
        summary="Accounts and transfers in MongoDB transactions, through a unit of work.",
        lifespan=lifespan,
    )
    app.state.container = container
    app.include_router(router)
    for error_type in STATUS_OF:
        app.add_exception_handler(error_type, problem)
    return app
