"""The pages: operator console (``/console``), crew phone page (``/crew``, with its offline
service worker ``/crew-sw.js``) and the login page.

The HTML files hold no data (every figure comes from the API with the user's token), so they
are plain files served as they are; ``/`` sends a browser to the console, whose script shows
the login page when the user is not signed in.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.staticfiles import StaticFiles
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse

WEB = Path(__file__).resolve().parent.parent / "web"
PAGES = {"/console": "console.html", "/crew": "crew.html", "/login": "login.html",
         "/admin": "admin.html"}  # issue 13: the registry admin page


async def page(request: Request) -> FileResponse:
    return FileResponse(WEB / PAGES[request.url.path], media_type="text/html; charset=utf-8",
                        headers={"Cache-Control": "no-cache"})


async def crew_worker(request: Request) -> FileResponse:
    """The crew page's service worker, at the root so that its scope may cover ``/crew``."""
    return FileResponse(WEB / "static" / "crew-sw.js", media_type="text/javascript; charset=utf-8",
                        headers={"Cache-Control": "no-cache"})


async def home(request: Request) -> RedirectResponse:
    return RedirectResponse("/console", status_code=307)


def static_files() -> StaticFiles:
    """Scripts, styles and vendored libraries under ``/static`` (no CDN anywhere)."""
    return StaticFiles(directory=WEB / "static")


router = APIRouter()
router.add_route("/", home, methods=["GET"], include_in_schema=False)
router.add_route("/crew-sw.js", crew_worker, methods=["GET"], include_in_schema=False)
for _path in PAGES:
    router.add_route(_path, page, methods=["GET"], include_in_schema=False)
