"""``/api/v1/registry/…``: the admin page's API (issue 13).

Elevators, organizations, teams and zones: list (paging, search), read one, create, update —
every save through the importer's own validation and writes (``dispatch.registry.admin``), so a
refused row is a 422 naming the field with the importer's message, and each save writes a
registry change row (actor: the user, source ``admin``). Import (multipart upload of the files
the importer recognises, ``dry_run``), export (a zip of the four files) and the change log.

Roles: admins write; supervisors and offices read, an office only its region's rows
(``Visibility``). The export is the whole registry, so it is for admins and supervisors.
"""

from __future__ import annotations

import io
import shutil
import tempfile
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, File, Query, UploadFile
from fastapi.responses import Response

from dispatch.deps import Admin, Now, SessionDep, SettingsDep, ViewerDep, require_roles
from dispatch.errors import Problem
from dispatch.models import User
from dispatch.registry import admin
from dispatch.registry.export import export_registry
from dispatch.registry.importer import FULL_SYNC_KINDS, ImportOptions, import_with_settings

router = APIRouter(prefix="/api/v1/registry", tags=["registry"])
Reader = Annotated[User, Depends(require_roles("admin", "supervisor", "office"))]
Exporter = Annotated[User, Depends(require_roles("admin", "supervisor"))]
Kind = Literal["elevators", "organizations", "teams", "zones"]
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]
Q = Annotated[str, Query(max_length=100, description="search words or a code")]
MAX_FILES = 4
UPLOAD_NAMES = ("zones.geojson", "organizations.csv", "organizations.xlsx", "teams.csv",
                "teams.xlsx", "elevators.csv", "elevators.xlsx")


def _filters(kind: str, org_kind: str | None, in_service: bool | None,
             on_duty: bool | None) -> dict[str, Any]:
    if kind == "organizations":
        return {"kind": org_kind}
    if kind == "elevators":
        return {"in_service": in_service}
    if kind == "teams":
        return {"on_duty": on_duty}
    return {}


@router.get("/changes")
def changes(_: Reader, viewer: ViewerDep, session: SessionDep,
            kind: Literal["zone", "organization", "team", "elevator"] | None = None,
            key: Annotated[str | None, Query(max_length=64)] = None,
            actor: Annotated[str | None, Query(max_length=64)] = None,
            since: datetime | None = None, until: datetime | None = None,
            limit: Limit = 50, offset: Offset = 0) -> dict[str, Any]:
    """The registry change log, newest first: each row's fields old → new, actor, source."""
    return admin.list_changes(session, viewer, kind=kind, key=key, actor=actor, since=since,
                              until=until, limit=limit, offset=offset)


@router.get("/export")
def export(_: Exporter, session: SessionDep, now: Now) -> Response:
    """A zip of zones.geojson, organizations.csv, teams.csv and elevators.csv (UTF-8): the
    import files; importing them again reports 0 changes."""
    buf = io.BytesIO()
    with tempfile.TemporaryDirectory(prefix="rescue-export-") as tmp:
        export_registry(session, Path(tmp))
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for name in ("zones.geojson", "organizations.csv", "teams.csv", "elevators.csv"):
                zf.write(Path(tmp) / name, name)
    stamp = now.strftime("%Y%m%d-%H%M")
    return Response(buf.getvalue(), media_type="application/zip", headers={
        "Content-Disposition": f'attachment; filename="registry-{stamp}.zip"'})


@router.post("/import")
def import_files(user: Admin, session: SessionDep, settings: SettingsDep, now: Now,
                       files: Annotated[list[UploadFile], File(
                           description="zones.geojson, organizations/teams/elevators "
                           ".csv|.xlsx")],
                       dry_run: bool = True, skip_bad: bool = False,
                       full_sync: Annotated[list[str] | None, Query()] = None
                       ) -> dict[str, Any]:
    """Import uploaded files as ``rescue registry import`` does (validated as a whole; nothing
    written unless every row is valid or ``skip_bad``); ``dry_run`` (the default) only
    reports. Answers the import report: counts per kind and every issue (file, line,
    column). A plain (threaded) route: a large import must not hold the event loop."""
    if len(files) > MAX_FILES:
        raise Problem(422, "Too many files", f"at most {MAX_FILES} files", field="files")
    for kind in full_sync or ():
        if kind not in FULL_SYNC_KINDS:
            raise Problem(422, "Invalid full_sync", f"full_sync: one of "
                          f"{', '.join(FULL_SYNC_KINDS)}", field="full_sync")
    with tempfile.TemporaryDirectory(prefix="rescue-import-") as tmp:
        paths: list[Path] = []
        for upload in files:
            name = Path(upload.filename or "").name.lower()
            if name not in UPLOAD_NAMES:
                raise Problem(422, "File name not recognised",
                              f"files: {upload.filename!r} is not one of "
                              f"{', '.join(UPLOAD_NAMES)}", field="files",
                              allowed=list(UPLOAD_NAMES))
            path = Path(tmp) / name
            if path.exists():
                raise Problem(422, "File given twice", f"files: {name} given twice",
                              field="files")
            with path.open("wb") as fh:  # spooled by the multipart parser; copied in pieces
                shutil.copyfileobj(upload.file, fh, 1024 * 1024)
            paths.append(path)
        options = ImportOptions(dry_run=dry_run, skip_bad=skip_bad,
                                full_sync=frozenset(full_sync or ()), actor=user.username,
                                role=user.role, now=now)
        report = import_with_settings(session, paths, settings, options=options)
    if not report.written:
        session.rollback()  # a refused import leaves nothing, as the CLI
    out = report.as_dict()
    out["files"] = {k: Path(p).name for k, p in report.files.items()}
    out["changes"] = report.changes
    out["errors"] = len(report.errors)
    return out


@router.get("/{kind}")
def list_rows(kind: Kind, _: Reader, viewer: ViewerDep, session: SessionDep, q: Q = "",
              limit: Limit = 50, offset: Offset = 0,
              org_kind: Annotated[str | None, Query(alias="kind_of", max_length=32)] = None,
              in_service: bool | None = None, on_duty: bool | None = None) -> dict[str, Any]:
    """One page of rows (``total``, ``items``) ordered by id; ``q`` searches (elevators:
    address words, building, the start of a register code, a rescue code; at most
    2,000 text matches), ``kind_of`` filters organizations by kind."""
    return admin.list_rows(session, viewer, kind, q=q, limit=limit, offset=offset,
                           filters=_filters(kind, org_kind, in_service, on_duty))


@router.get("/{kind}/{key}")
def read_row(kind: Kind, key: str, _: Reader, viewer: ViewerDep,
             session: SessionDep) -> dict[str, Any]:
    """One row by its natural key (code, or an elevator's register code)."""
    row = admin.read_row(session, viewer, kind, key)
    if row is None:
        raise Problem(404, "Not found", f"no {kind[:-1]} {key}", field="key")
    return row


def _saved(session: SessionDep, viewer: ViewerDep, kind: str, key: str,
           result: admin.SaveResult) -> dict[str, Any]:
    return {"action": result.action, "row": admin.read_row(session, viewer, kind, key),
            "counts": {k: vars(r) for k, r in result.report.kinds.items()},
            "warnings": [i.as_dict() for i in result.report.issues
                         if i.severity == "warning"]}


@router.post("/{kind}", status_code=201)
def create_row(kind: Kind, user: Admin, viewer: ViewerDep, session: SessionDep,
               settings: SettingsDep, now: Now,
               body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    """Create one row with the import's columns; validated by the importer's rules (422
    naming the field, nothing written), with a registry change row (source ``admin``)."""
    result = admin.save_row(session, kind, body, key=None, settings=settings,
                            actor=user.username, role=user.role, now=now)
    key = admin.text_of(body.get(admin.KINDS[kind][0]))
    return _saved(session, viewer, kind, key, result)


@router.patch("/{kind}/{key}")
def update_row(kind: Kind, key: str, user: Admin, viewer: ViewerDep, session: SessionDep,
               settings: SettingsDep, now: Now,
               body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    """Change some fields of one row (the others stay); the same validation and change row
    as a create."""
    result = admin.save_row(session, kind, body, key=key, settings=settings,
                            actor=user.username, role=user.role, now=now)
    return _saved(session, viewer, kind, key, result)
