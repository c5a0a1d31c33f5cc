"""The FastAPI application: the REST API under /api/v1 and the server-rendered pages."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from accord.clock import Clock, SystemClock
from accord.config import Config
from accord.errors import AccordError, ConfigError, ValidationError
from accord.jobs.live_config import LiveConfig
from accord.jobs.web import attach as attach_jobs
from accord.service.card_layout import FieldAccessError
from accord.service.systems import open_hub
from accord.store import HubStore
from accord.web.api import customers as api_customers
from accord.web.api import erp as api_erp
from accord.web.api import monitor as api_monitor
from accord.web.api import people as api_people
from accord.web.api import pos as api_pos
from accord.web.api import session as api_session
from accord.web.api import settings as api_settings
from accord.web.auth import LoginRequiredError
from accord.web.pages import auth as page_auth
from accord.web.pages import connect as page_connect
from accord.web.pages import customers as page_customers
from accord.web.pages import import_profiles as page_import_profiles
from accord.web.pages import monitor as page_monitor
from accord.web.pages import people as page_people
from accord.web.pages import settings as page_settings
from accord.web.security import SecurityHeaders
from accord.web.state import WebState
from accord.web.templating import templates

STATIC = Path(__file__).parent / "static"
API_PREFIX = "/api/v1"
# Every router of the app, by module: the versioned API, then the pages.
API_MODULES = (
    api_session,
    api_customers,
    api_pos,
    api_monitor,
    api_settings,
    api_erp,
    api_people,
)
PAGE_MODULES = (
    page_auth,
    page_customers,
    page_monitor,
    page_settings,
    page_connect,
    page_import_profiles,
    page_people,
)


def create_app(
    settings: Config,
    *,
    store: HubStore | None = None,
    clock: Clock | None = None,
    secure_cookies: bool | None = None,
    scheduler: bool = False,
) -> FastAPI:
    """The app for one configuration. ``secure_cookies`` None: Secure when served over HTTPS."""
    app = FastAPI(
        title="Accord",
        summary="Customer master data hub: customers, sync monitor, point-of-sale feed",
        version="1",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
    )
    # Pages, the API and the scheduler follow accord.toml as `accord worker` does.
    live = LiveConfig(settings)
    app.state.accord = WebState(
        live, store or open_hub(settings), clock or SystemClock(), secure_cookies
    )
    app.add_middleware(SecurityHeaders)
    for module in API_MODULES:
        app.include_router(module.router, prefix=API_PREFIX)
    for page in PAGE_MODULES:
        app.include_router(page.router)
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    # /metrics, and with scheduler=True (`accord serve`) the inline scheduler in the lifespan.
    attach_jobs(app, live, app.state.accord.store, run_scheduler=scheduler)
    _handle_errors(app)
    return app


def _handle_errors(app: FastAPI) -> None:
    @app.exception_handler(LoginRequiredError)
    async def _login(request: Request, _exc: LoginRequiredError) -> Response:
        if request.headers.get("hx-request"):
            return Response(status_code=401, headers={"HX-Redirect": "/login"})
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={target}", status_code=303)

    @app.exception_handler(AccordError)
    async def _accord(request: Request, exc: AccordError) -> Response:
        if isinstance(exc, FieldAccessError):
            code = 403  # the card layout does not let this role change the field
        elif isinstance(exc, ValidationError | ConfigError):
            code = 422
        elif exc.message.startswith("no "):
            code = 404  # "no customer 7", "no conflict 3": the thing asked for does not exist
        else:
            code = 409  # e.g. a conflict already resolved
        if not _is_api(request):
            return _error_page(request, code, str(exc))
        body = {"detail": str(exc), "entity": exc.entity, "record": exc.key, "field": exc.field}
        return JSONResponse(body, status_code=code)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if _is_api(request) or request.headers.get("hx-request"):
            return await http_exception_handler(request, exc)
        return _error_page(request, exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def _bad_address(request: Request, exc: RequestValidationError) -> Response:
        # A page asked with a parameter missing or not a number (an edited or old link):
        # a page saying which, not the API's JSON.
        if _is_api(request) or request.headers.get("hx-request"):
            return await request_validation_exception_handler(request, exc)
        return _error_page(request, 422, _bad_parameters(exc))


def _bad_parameters(exc: RequestValidationError) -> str:
    problems = [
        f"{error['loc'][-1]}: {'missing' if error['type'] == 'missing' else error['msg']}"
        for error in exc.errors()
    ]
    return "This address cannot be shown: " + "; ".join(problems)


def _is_api(request: Request) -> bool:
    return request.url.path.startswith(API_PREFIX + "/") or request.url.path == API_PREFIX


def _error_page(request: Request, code: int, message: str) -> Response:
    return templates.TemplateResponse(
        request,
        "error.html",
        {"user": None, "csrf": None, "title": f"Error {code}", "code": code, "message": message},
        status_code=code,
    )
