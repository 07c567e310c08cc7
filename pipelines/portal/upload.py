"""An upload streamed to disk: the multipart body is parsed as it arrives, the file part written
to a temporary file under a generated name and hashed on the way, and the request refused (413)
the moment it passes the size limit. Nothing holds the file whole in memory: the portal's memory
stays flat whatever the upload's size (bench/portal_upload.py measures it).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from python_multipart import MultipartParser
from python_multipart.multipart import parse_options_header
from starlette.requests import Request

FILE_FIELD = "file"
FIELD_BYTES = 4096  # a form field (the CSRF token): never more
FORM_OVERHEAD = 64 * 1024  # boundaries, part headers and the small fields around the file


class UploadTooLarge(Exception):
    pass


class BadUpload(Exception):
    """Not a form this portal sent (malformed, two files, oversized fields)."""


@dataclass
class _Part:
    headers: dict[bytes, bytes] = field(default_factory=dict)
    name: str = ""
    filename: str | None = None
    value: bytearray = field(default_factory=bytearray)


@dataclass
class Received:
    path: Path  # the temporary file, under a generated name
    filename: str  # as the browser sent it: a label to sanitise, never a path
    fields: dict[str, str]
    size: int
    sha256: str


class _Receiver:
    def __init__(self, folder: Path, limit: int) -> None:
        self.path = folder / f".upload-{uuid.uuid4().hex}.part"
        self.limit = limit
        self.out: IO[bytes] | None = None
        self.sha = hashlib.sha256()
        self.size = 0
        self.filename: str | None = None
        self.fields: dict[str, str] = {}
        self.part = _Part()
        self._field_name = b""
        self._field_value = b""
        self.error: Exception | None = None

    # python_multipart callbacks: they cannot raise through the parser, so they note errors
    def on_part_begin(self) -> None:
        self.part = _Part()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._field_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._field_value += data[start:end]

    def on_header_end(self) -> None:
        self.part.headers[self._field_name.lower()] = self._field_value
        self._field_name = self._field_value = b""

    def on_headers_finished(self) -> None:
        _, opts = parse_options_header(self.part.headers.get(b"content-disposition", b""))
        self.part.name = opts.get(b"name", b"").decode("utf-8", "replace")
        if b"filename" in opts and self.part.name == FILE_FIELD:
            if self.out is not None:
                self.error = BadUpload("more than one file")
                return
            self.filename = opts[b"filename"].decode("utf-8", "replace")
            self.part.filename = self.filename
            self.out = open(self.path, "wb")  # noqa: SIM115 - closed in finish()

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self.part.filename is not None and self.out is not None:
            self.size += len(chunk)
            if self.size > self.limit:
                self.error = UploadTooLarge()
                return
            self.sha.update(chunk)
            self.out.write(chunk)
        else:
            self.part.value += chunk
            if len(self.part.value) > FIELD_BYTES:
                self.error = BadUpload("form field too long")

    def on_part_end(self) -> None:
        if self.part.filename is None and self.part.name:
            self.fields[self.part.name] = self.part.value.decode("utf-8", "replace")

    def finish(self) -> None:
        if self.out is not None:
            self.out.close()

    def discard(self) -> None:
        self.finish()
        self.path.unlink(missing_ok=True)


async def receive_upload(request: Request, folder: Path, limit: int) -> Received:
    """Stream the request's multipart body: the one file part to `folder`, the other fields
    kept (small). Raises UploadTooLarge past `limit` bytes of file, BadUpload if malformed;
    either way nothing is left behind."""
    mime, opts = parse_options_header(request.headers.get("content-type", ""))
    boundary = opts.get(b"boundary")
    if mime != b"multipart/form-data" or not boundary:
        raise BadUpload("not a multipart form")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + FORM_OVERHEAD:
        raise UploadTooLarge()  # refused before a byte of it is read
    folder.mkdir(parents=True, exist_ok=True)
    rx = _Receiver(folder, limit)
    callbacks = {name: getattr(rx, name) for name in (
        "on_part_begin", "on_header_field", "on_header_value", "on_header_end",
        "on_headers_finished", "on_part_data", "on_part_end")}
    parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]
    try:
        read = 0
        async for chunk in request.stream():
            read += len(chunk)
            if read > limit + FORM_OVERHEAD:
                raise UploadTooLarge()
            parser.write(chunk)
            if rx.error:
                raise rx.error
        parser.finalize()
        if rx.error:
            raise rx.error
        if rx.out is None or rx.filename is None:
            raise BadUpload("no file part")
    except Exception as exc:
        rx.discard()
        if isinstance(exc, UploadTooLarge | BadUpload):
            raise
        raise BadUpload(f"{type(exc).__name__}: {exc}") from exc
    rx.finish()
    return Received(rx.path, rx.filename, rx.fields, rx.size, rx.sha.hexdigest())
