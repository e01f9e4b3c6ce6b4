"""Getting the clip out of a request without holding it in memory: multipart field `video` (the
form parser already spools parts to a temporary file) or a raw `video/*` body, spooled here.
Parameters come from form fields and the query string (query wins), as for photos."""

from __future__ import annotations

import contextlib
import tempfile
from dataclasses import dataclass, field
from typing import IO, Any

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request

from service.errors import ApiError, ErrorKind
from service.upload import UploadClock, body_reading, check_media_type, is_form, media_type

# Bodies up to this size stay in memory; larger ones go to a temporary file.
_SPOOL_BYTES = 4 * 1024 * 1024


@dataclass
class VideoUpload:
    file: IO[bytes]
    size: int
    params: dict[str, str]
    _owned: list[Any] = field(default_factory=list)  # what `close` releases (form, temp file)

    async def close(self) -> None:
        for owned in self._owned:
            with contextlib.suppress(Exception):
                if isinstance(owned, FormData):
                    await owned.close()
                else:
                    owned.close()


async def read_video_upload(
    request: Request, *, field_name: str = "video", clock: UploadClock | None = None
) -> VideoUpload:
    """The caller must `close()` the result once the clip is done (after streaming). `clock`: the
    read's time limits (as for photos: a trickling or stalled upload is a 408, not a held place)."""
    with body_reading(request, clock) as timed:
        return await _read_video_upload(timed, field_name)


async def _read_video_upload(request: Request, field_name: str) -> VideoUpload:
    content_type = media_type(request.headers.get("content-type"))
    if is_form(content_type):
        form = await request.form(max_files=4, max_fields=64)
        try:
            part = form.get(field_name)
            if not isinstance(part, UploadFile):
                raise ApiError(
                    ErrorKind.MISSING_VIDEO, f"multipart field {field_name!r} with a video file is required"
                )
            check_media_type(media_type(part.content_type), "video")
        except BaseException:
            await form.close()
            raise
        params = {k: v for k, v in form.items() if isinstance(v, str)}
        upload = VideoUpload(file=part.file, size=part.size or 0, params=params, _owned=[form])
    else:
        check_media_type(content_type, "video")
        # Closed by VideoUpload.close, after the response has streamed: no `with` can span that.
        spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES)  # noqa: SIM115
        upload = VideoUpload(file=spool, size=0, params={}, _owned=[spool])
        try:
            async for chunk in request.stream():
                spool.write(chunk)
                upload.size += len(chunk)
        except BaseException:
            await upload.close()
            raise
        if upload.size == 0 and not content_type:
            await upload.close()
            raise ApiError(
                ErrorKind.MISSING_VIDEO,
                f"send the video as multipart field {field_name!r} or as the body with a video/* type",
            )
    if upload.size == 0:
        await upload.close()
        raise ApiError(ErrorKind.INVALID_VIDEO, "the uploaded video is empty (0 bytes)")
    upload.file.seek(0)
    upload.params.update(request.query_params)
    return upload
