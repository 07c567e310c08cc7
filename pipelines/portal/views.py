"""The clerk's pages: the department's datasets, a dataset (template, upload, history), an
upload on its way, a drop's answer and its files. Each view asks `answers` through the account,
so another department's anything is a 404."""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path

from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Route

from pipelines.contracts import Contract
from pipelines.landing.drops import drop_file
from pipelines.portal import answers
from pipelines.portal.auth import signed_in
from pipelines.portal.session import CSRF_FIELD, csrf_ok
from pipelines.portal.sniff import NotAccepted, label, sniff
from pipelines.portal.upload import BadUpload, Received, UploadTooLarge, receive_upload
from pipelines.read.limits import size_zh

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MEDIA = {"answer.xlsx": XLSX, "rejections.csv": "text/csv; charset=utf-8",
         "rejections.json": "application/json"}
log = logging.getLogger(__name__)
REFRESH_SECONDS = 5  # pages of a drop still on its way reload themselves (no script needed)


def home(request: Request) -> Response:
    portal, account, session = signed_in(request)
    contracts = answers.visible_datasets(account)
    return portal.render(request, "home.html", account=account, csrf=session.csrf,
                         rows=[answers.dataset_row(portal.wh, c) for c in contracts],
                         drops=answers.history(portal.wh, contracts), states=answers.STATE_ZH)


def dataset(request: Request) -> Response:
    _, account, _ = signed_in(request)
    contract = answers.visible_contract(account, request.path_params["dataset"])
    return _dataset_page(request, contract)


def _dataset_page(request: Request, contract: Contract, error: str | None = None,
                  status: int = 200) -> Response:
    portal, account, session = signed_in(request)
    return portal.render(request, "dataset.html", status=status, account=account,
                         csrf=session.csrf, row=answers.dataset_row(portal.wh, contract),
                         drops=answers.history(portal.wh, [contract]), states=answers.STATE_ZH,
                         limit=size_zh(portal.max_upload_bytes), error=error)


def template(request: Request) -> Response:
    from pipelines.contracts import load_region
    from pipelines.landing.template import build_template
    from pipelines.validate.suite import RULE_SEVERITY

    _, account, _ = signed_in(request)
    contract = answers.visible_contract(account, request.path_params["dataset"])
    folder = Path(tempfile.mkdtemp(prefix="yitu-template-"))
    out = build_template(contract, load_region(), folder / f"{contract.dataset}.xlsx",
                         rule_severity=RULE_SEVERITY)
    return FileResponse(out, media_type=XLSX, filename=f"{contract.title}-报送模板.xlsx",
                        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True))


async def upload(request: Request) -> Response:
    portal, account, session = signed_in(request)
    contract = answers.visible_contract(account, request.path_params["dataset"])
    if account.role != "clerk" or account.department != contract.department:
        raise HTTPException(404)  # monitors read; only the department's clerks deliver
    try:
        got = await receive_upload(request, portal.settings.scratch / "portal-uploads",
                                   portal.max_upload_bytes)
    except UploadTooLarge:
        raise HTTPException(413) from None
    except BadUpload:
        raise HTTPException(400) from None
    stored: Path | None = None
    try:
        if not csrf_ok(session, got.fields.get(CSRF_FIELD)):
            raise HTTPException(403)
        try:
            ext = await run_in_threadpool(sniff, got.path)
        except NotAccepted as exc:  # said on the page the clerk uploaded from, and kept
            await run_in_threadpool(_keep_refused, portal.settings.raw, got, contract.dataset,
                                    account.login, str(exc))
            return _dataset_page(request, contract, error=str(exc), status=415)
        upload_id = uuid.uuid4().hex
        stored = got.path.with_name(f"portal-{upload_id}{ext}")  # generated: never the given name
        got.path.rename(stored)
        given = label(got.filename, ext)
        landed = await run_in_threadpool(drop_file, portal.settings, stored, contract.dataset,
                                         given=given)
        record = answers.Upload(upload_id, account.login, contract.dataset, given, landed.name,
                                datetime.now(UTC))
        await run_in_threadpool(answers.record_upload, portal.wh, record, got.sha256, got.size)
    finally:  # drop_file copied it into landing; the temporary file goes either way
        for leftover in (got.path, stored):
            if leftover is not None:
                leftover.unlink(missing_ok=True)
    return RedirectResponse(f"/uploads/{upload_id}", status_code=303)


def _keep_refused(raw: Path, got: Received, dataset: str, login: str, reason: str) -> None:
    """A file refused for its format is still a file received: archived beside the drops
    (raw/portal-refused/<dataset>/<day>/), under a generated name with a note of who sent it
    and why it was refused, so nothing a department sent is lost."""
    now = datetime.now(UTC)
    folder = raw / "portal-refused" / dataset / f"{now:%Y-%m-%d}"
    folder.mkdir(parents=True, exist_ok=True)
    kept = folder / f"{uuid.uuid4().hex}.bin"
    got.path.rename(kept)
    kept.with_suffix(".json").write_text(json.dumps(
        {"login": login, "dataset": dataset, "file": label(got.filename, ""),
         "sha256": got.sha256, "size_bytes": got.size, "received_at": now.isoformat(),
         "reason": reason}, ensure_ascii=False, indent=2), "utf-8")
    log.warning("portal: %s's upload for %s refused for its format, kept as %s (%s)",
                login, dataset, kept, reason)


def upload_status(request: Request) -> Response:
    portal, account, session = signed_in(request)
    up = answers.visible_upload(portal.wh, account, request.path_params["upload_id"])
    drop = answers.upload_drop(portal.wh, up)
    if drop is not None:
        return RedirectResponse(f"/drops/{drop.drop_id}", status_code=303)
    waiting = (portal.settings.landing / up.dataset / up.landed_as).exists()
    return portal.render(request, "upload.html", account=account, csrf=session.csrf, up=up,
                         state=answers.STATE_ZH["received" if waiting else "processing"],
                         refresh=REFRESH_SECONDS)


def drop(request: Request) -> Response:
    portal, account, session = signed_in(request)
    rec = answers.visible_drop(portal.wh, account, request.path_params["drop_id"])
    answer = answers.drop_answer(portal.settings, rec)
    return portal.render(request, "drop.html", account=account, csrf=session.csrf, a=answer,
                         refresh=REFRESH_SECONDS if rec.state == "pending" else None)


def drop_file_download(request: Request) -> Response:
    portal, account, _ = signed_in(request)
    name = request.path_params["name"]
    rec = answers.visible_drop(portal.wh, account, request.path_params["drop_id"])
    path = answers.answer_file(portal.settings, rec, name)
    return FileResponse(path, media_type=MEDIA[name], filename=f"{rec.drop_id}-{name}")


ROUTES = [
    Route("/", home, methods=["GET"]),
    Route("/datasets/{dataset}", dataset, methods=["GET"]),
    Route("/datasets/{dataset}/template.xlsx", template, methods=["GET"]),
    Route("/datasets/{dataset}/upload", upload, methods=["POST"]),
    Route("/uploads/{upload_id}", upload_status, methods=["GET"]),
    Route("/drops/{drop_id}", drop, methods=["GET"]),
    Route("/drops/{drop_id}/files/{name}", drop_file_download, methods=["GET"]),
]
