"""Slow and stalled uploads against a real uvicorn process (raw sockets, short timeouts from
settings): a head that never completes, an over-stated Content-Length and a never-ending chunked
body each end with a JSON 408 `upload_timeout`; trickling uploads beyond the upload places are
refused with 429 at once, beyond the slow-upload places end with 408, and hold no in-flight place:
normal requests are still served meanwhile."""

from __future__ import annotations

import asyncio
import contextlib
import json

import httpx

from bench.server import LOOPBACK
from tests.load.conftest import StartServer, wait_for_metric

TIMEOUTS = {
    "header_timeout_s": "1",
    "upload_idle_timeout_s": "1",
    "upload_timeout_s": "3",
    "slow_upload_after_s": "0.5",
}
PATH = "/remove-background?output=mask"
CHUNK = b"40\r\n" + b"x" * 64 + b"\r\n"  # one 64-byte chunk of a chunked body


def head(port: int, extra: str) -> bytes:
    host = f"Host: {LOOPBACK}:{port}\r\n"
    return f"POST {PATH} HTTP/1.1\r\n{host}Content-Type: image/jpeg\r\n{extra}\r\n".encode()


async def send_and_answer(port: int, data: bytes, drip: bytes = b"", every_s: float = 0.2) -> bytes:
    """Send `data`, then `drip` every `every_s` (if any) until the server answers; returns what the
    server sent before closing (the whole answer), or its head if it keeps the connection."""
    reader, writer = await asyncio.open_connection(LOOPBACK, port)
    writer.write(data)
    answer = asyncio.ensure_future(reader.read())  # until the server closes
    try:
        for _ in range(100):  # at most ~20 s of dripping; the server's clocks end it far sooner
            done, _ = await asyncio.wait([answer], timeout=every_s)
            if done:
                break
            if drip:
                writer.write(drip)
                with contextlib.suppress(ConnectionError):
                    await writer.drain()
        return await asyncio.wait_for(answer, 20)
    finally:
        writer.close()


def status_and_code(answer: bytes) -> tuple[int, str]:
    head_bytes, _, body = answer.partition(b"\r\n\r\n")
    status = int(head_bytes.split(b" ", 2)[1])
    return status, json.loads(body)["error"]["code"]


async def test_stalled_heads_and_bodies_end_with_a_json_408(start_server: StartServer) -> None:
    server = start_server(TIMEOUTS)
    port = server.port
    never_complete_head = f"POST {PATH} HTTP/1.1\r\nHost: {LOOPBACK}\r\n".encode()
    answers = await asyncio.gather(
        send_and_answer(port, never_complete_head),  # slowloris: the head never ends
        send_and_answer(port, never_complete_head, drip=b"X-A: b\r\n"),  # a header line at a time
        send_and_answer(port, head(port, "Content-Length: 200000\r\n") + b"\xff\xd8" * 500),
        send_and_answer(port, head(port, "Transfer-Encoding: chunked\r\n"), drip=CHUNK),
    )
    for answer in answers:
        assert status_and_code(answer) == (408, "upload_timeout"), answer[:300]
    timed_out = {"output": "unknown", "engine": "none", "status": "408"}  # the two bodies
    assert await asyncio.to_thread(wait_for_metric, server, "bgremove_requests_total", timed_out, 2) == 2
    assert await asyncio.to_thread(wait_for_metric, server, "bgremove_uploads_in_progress", {}, 0) == 0
    async with httpx.AsyncClient(base_url=server.base_url) as client:  # a silent connection, too
        reader, writer = await asyncio.open_connection(LOOPBACK, port)
        silent = await asyncio.wait_for(reader.read(), 20)
        writer.close()
        assert (await client.get("/healthz")).status_code == 200
    assert status_and_code(silent) == (408, "upload_timeout")


async def test_trickling_uploads_cannot_take_every_place(
    start_server: StartServer, small_jpegs: list[bytes]
) -> None:
    settings = {**TIMEOUTS, "upload_idle_timeout_s": "5", "upload_timeout_s": "30"}
    settings |= {"max_uploads": "4", "max_slow_uploads": "2", "max_in_flight": "1"}
    server = start_server(settings)
    port = server.port
    start = head(port, "Content-Length: 2000000\r\n")
    tricklers = [asyncio.ensure_future(send_and_answer(port, start, drip=b"x" * 100)) for _ in range(6)]
    # Two are refused at once (4 upload places), two end at 0.5 s (2 slow places), two go on.
    await asyncio.to_thread(wait_for_metric, server, "bgremove_rejected_total", {"reason": "uploads"}, 2)
    reason = {"reason": "slow_uploads"}
    assert await asyncio.to_thread(wait_for_metric, server, "bgremove_rejected_total", reason, 2) == 2
    assert server.metric("bgremove_uploads_in_progress") == 2
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        # The two slow uploads hold no in-flight place (there is only one): normal work goes on.
        for body in small_jpegs[:3]:
            r = await client.post(PATH, files={"image": ("p.jpg", body, "image/jpeg")})
            assert r.status_code == 200, r.text
    assert server.metric("bgremove_in_flight_requests") == 0
    finished = [t for t in tricklers if t.done()]
    answers = sorted(status_and_code(t.result()) for t in finished)
    assert answers == [(408, "upload_timeout")] * 2 + [(429, "queue_full")] * 2, answers
    for task in tricklers:
        task.cancel()
    await asyncio.gather(*tricklers, return_exceptions=True)


async def test_trickling_video_uploads_end_with_408_and_hold_no_video_place(
    start_server: StartServer,
) -> None:
    from tests.video.clips import URL, encode_clip, moving_crop  # PyAV: the `video` extra

    settings = {**TIMEOUTS, "upload_idle_timeout_s": "5", "video_upload_timeout_s": "3"}
    server = start_server(settings | {"video_max_concurrent": "1", "max_slow_uploads": "4"})
    port = server.port
    video_head = head(port, "Content-Length: 2000000\r\n").replace(b"image/jpeg", b"video/webm")
    video_head = video_head.replace(PATH.encode(), URL.encode())
    trickler = asyncio.ensure_future(send_and_answer(port, video_head, drip=b"x" * 100))
    stalled = asyncio.ensure_future(send_and_answer(port, video_head + b"\x1a\x45\xdf\xa3"))
    await asyncio.to_thread(wait_for_metric, server, "bgremove_uploads_in_progress", {}, 2)
    clip = encode_clip(moving_crop(frames=6, width=96, height=64))
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        # The only video place is free while the two bodies are still coming: a whole clip is served.
        served = await client.post(URL, files={"video": ("c.webm", clip, "video/webm")})
    assert served.status_code == 200, served.text
    assert status_and_code(await trickler) == (408, "upload_timeout")  # the whole-read limit (3 s)
    assert status_and_code(await stalled) == (408, "upload_timeout")  # nothing for 5 s
