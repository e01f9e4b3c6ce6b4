"""`python -m bench.attack`: hostile clients against a real uvicorn process on 127.0.0.1, bounded in
count and time, printing what they did to normal traffic.

Phases, each with its own request count and time limit, against one server:

0. memory bombs (`bench.attack_memory`): a 40,000,000 x 1 strip and all-zero 40/30 MP PNGs, each
   alone: the answer and the server's peak RSS above idle;
1. baseline: `--normal` ordinary requests (small photo JPEGs, output=rgba) at `--concurrency`;
2. bombs: the same normal load while `--bombs` scan-bomb JPEGs (6000x6600, 4,000 near-empty
   progressive scans, ~490 KB; `bench.bombs`) plus one 37-byte GIF with a 6000x6600 screen per
   bomb arrive at the start: how many normal requests still succeed, at what latency, and how the
   bombs are answered;
3. aborted uploads: `--aborts` uploads (raw and multipart alternately) that declare 200 KB and hang
   up after 1 KB; the server's own counters must show them as 499 `client_closed` and no 5xx.
4. slow uploads: `--slow-uploads` connections trickling a body while the normal load runs (target:
   >= 90 % of the normal requests succeed); 5. overload: `--overload-factor` x the one-at-a-time
   capacity, open loop, for `--overload-s` (target: goodput >= 80 % of capacity, refusals fast,
   nothing admitted finishes past its deadline). Both in `bench.attack_overload`; 0 skips a phase.

There is deliberately no switch to lift the decode limits: once Pillow starts on a bomb it cannot
be interrupted (each scan of the 40 MP bomb is ~0.1 s of libjpeg time on a 2-core box), and past
the decoder the 40 MP cut-out needs ~4 GB. Exit status 0 when phase 3 counted no 5xx.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench import hardware, report
from bench.attack_memory import memory_phase
from bench.attack_overload import overload, slow_uploads
from bench.bombs import gif_screen_bomb, scan_bomb_jpeg
from bench.images import request_jpegs, source_of_images
from bench.load import LoadPlan, LoadResult, Outcome, run_load, send_one
from bench.server import LOOPBACK, ServerProcess, ServerSpec, running_server
from service.admission import memory_budget_bytes

NORMAL_PATH = "/remove-background?output=rgba&format=png"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.attack", description=__doc__.split("\n\n")[0])
    p.add_argument("--engine", choices=["fake", "grabcut", "modnet"], default="fake")
    p.add_argument("--fake-batch-ms", type=float, default=20.0, help="per-batch latency of the fake")
    p.add_argument("--normal", type=int, default=120, help="normal requests per phase")
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--size", default="640x480", help="normal request image size WxH")
    p.add_argument("--bombs", type=int, default=2, help="scan-bomb JPEGs (and as many GIF bombs)")
    p.add_argument("--bomb-scans", type=int, default=4000)
    p.add_argument("--aborts", type=int, default=20, help="uploads aborted mid-body")
    p.add_argument("--slow-uploads", type=int, default=130, help="trickling connections; 0: skip")
    p.add_argument("--overload-factor", type=float, default=3.0, help="offered load / capacity")
    p.add_argument("--overload-s", type=float, default=60.0, help="overload phase length; 0: skip")
    p.add_argument("--time-limit", type=float, default=90.0, help="seconds per phase, at most")
    p.add_argument("--out", type=Path, help="also write the figures as JSON here")
    args = p.parse_args(argv)
    if min(args.normal, args.concurrency, args.bombs, args.aborts) < 1 or args.time_limit <= 0:
        p.error("counts and the time limit must be positive")
    return args


def server_spec(args: argparse.Namespace) -> ServerSpec:
    settings = {"request_timeout_s": str(min(args.time_limit, 30.0))}
    env = {"BENCH_FAKE_BATCH_MS": str(args.fake_batch_ms)} if args.engine == "fake" else {}
    return ServerSpec(args.engine, settings, env)


def normal_summary(result: LoadResult) -> dict[str, Any]:
    summary = result.summary()
    summary["ok_pct"] = 100.0 * result.ok / max(len(result.outcomes), 1)
    return summary


async def send_bombs(base_url: str, bombs: list[bytes], timeout_s: float) -> list[Outcome]:
    async with httpx.AsyncClient(base_url=base_url, timeout=timeout_s) as client:
        return list(await asyncio.gather(*(send_one(client, NORMAL_PATH, bomb) for bomb in bombs)))


async def bombs_under_load(
    base_url: str, plan: LoadPlan, bodies: list[bytes], bombs: list[bytes]
) -> tuple[LoadResult, list[Outcome]]:
    normal = asyncio.ensure_future(run_load(base_url, plan, bodies))
    await asyncio.sleep(0.2)  # the normal clients are going; the bombs land in their midst
    hostile = await send_bombs(base_url, bombs, plan.request_timeout_s)
    return await normal, hostile


def abort_upload(port: int, body: bytes, index: int) -> None:
    """Headers and 1 KB of a body that claims 200 KB, then a hang-up (raw and multipart in turn)."""
    if index % 2:
        boundary = "attack"
        content_type = f"multipart/form-data; boundary={boundary}"
        body = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode() + body
    else:
        content_type = "image/jpeg"
    with socket.create_connection((LOOPBACK, port), timeout=5) as sock:
        head = (
            f"POST {NORMAL_PATH} HTTP/1.1\r\nHost: {LOOPBACK}:{port}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: 200000\r\n\r\n"
        )
        sock.sendall(head.encode() + body[:1000])


def five_xx(server: ServerProcess) -> float:
    text = server.metrics_text()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("bgremove_requests_total{") and 'status="5' in line
    )


def aborted_uploads(server: ServerProcess, body: bytes, count: int, time_limit_s: float) -> dict[str, Any]:
    closed_before = server.metric("bgremove_errors_total", {"code": "client_closed"})
    five_xx_before = five_xx(server)
    deadline = time.monotonic() + time_limit_s
    sent = 0
    while sent < count and time.monotonic() < deadline:
        abort_upload(server.port, body, sent)
        sent += 1
    closed = server.metric("bgremove_errors_total", {"code": "client_closed"}) - closed_before
    while closed < sent and time.monotonic() < deadline:  # the server sees each hang-up shortly after
        time.sleep(0.05)
        closed = server.metric("bgremove_errors_total", {"code": "client_closed"}) - closed_before
    return {"sent": sent, "counted_client_closed": closed, "new_5xx": five_xx(server) - five_xx_before}


def attack(args: argparse.Namespace, workdir: Path, log: Any = print) -> dict[str, Any]:
    width, height = (int(v) for v in args.size.split("x"))
    bodies = request_jpegs(8, width, height)
    log(f"attack: building {args.bombs} scan bombs (6000x6600, {args.bomb_scans} scans) and GIF bombs")
    scan_bomb = scan_bomb_jpeg(6000, 6600, args.bomb_scans)
    bombs = [scan_bomb] * args.bombs + [gif_screen_bomb(6000, 6600)] * args.bombs
    plan = LoadPlan(NORMAL_PATH, args.concurrency, args.normal, args.time_limit, request_timeout_s=60.0)
    result: dict[str, Any] = {
        "hardware": hardware.detect(with_torch=False).label(),
        "engine": args.engine if args.engine != "fake" else f"fake ({args.fake_batch_ms:g} ms per batch)",
        "normal_images": f"{len(bodies)} x {args.size} JPEG ({source_of_images()}), output=rgba png",
        "scan_bomb_bytes": len(scan_bomb),
    }
    with running_server(server_spec(args), workdir) as server:
        log(f"attack: server {server.base_url}; phase 0, memory bombs one at a time")
        result["memory_bombs"] = memory_phase(server, args.time_limit)
        result["memory_budget_mib"] = memory_budget_bytes(0) / 2**20  # the server's default, same machine
        log(f"attack: phase 1, {args.normal} normal requests")
        result["baseline"] = normal_summary(asyncio.run(run_load(server.base_url, plan, bodies)))
        log("attack: phase 2, the same load with the bombs")
        normal, hostile = asyncio.run(bombs_under_load(server.base_url, plan, bodies, bombs))
        result["under_bombs"] = normal_summary(normal)
        result["bombs"] = [
            {"status": o.status, "code": o.detail, "latency_ms": o.latency_s * 1000} for o in hostile
        ]
        log(f"attack: phase 3, {args.aborts} aborted uploads")
        result["aborted_uploads"] = aborted_uploads(server, bodies[0], args.aborts, args.time_limit)
        if args.slow_uploads:
            log(f"attack: phase 4, {args.slow_uploads} slow uploads during the normal load")
            result["slow_uploads"] = asyncio.run(
                slow_uploads(server.base_url, server.port, plan, bodies, args.slow_uploads, 0.5)
            )
        if args.overload_s:
            log(f"attack: phase 5, {args.overload_factor:g}x capacity for {args.overload_s:g} s")
            result["overload"] = asyncio.run(
                overload(server.base_url, NORMAL_PATH, bodies, factor=args.overload_factor,
                         duration_s=args.overload_s, deadline_s=float(server_spec(args).settings[
                             "request_timeout_s"]), capacity_requests=args.normal)
            )  # fmt: skip
        result["rss_end_mib"] = server.rss_bytes() / 2**20
        result["server_alive"] = server.alive()
    return result


def render(result: dict[str, Any]) -> str:
    rows = []
    for phase in ("baseline", "under_bombs"):
        s = result[phase]
        rows.append([phase, s["requests"], s["ok"], s["ok_pct"], s["req_per_s"], s["p50_ms"], s["p95_ms"]])
    bombs = [[b["status"], b["code"], b["latency_ms"]] for b in result["bombs"]]
    memory = [
        [m["bomb"], m["bytes"], m["status"], m["code"], m["peak_above_idle_mib"]]
        for m in result["memory_bombs"]
    ]
    aborted = result["aborted_uploads"]
    return "\n".join(
        [
            f"Hardware: {result['hardware']}",
            f"Engine: {result['engine']}; normal load: {result['normal_images']}",
            f"Decode limits: the defaults; scan bomb {result['scan_bomb_bytes']:,} bytes",
            "",
            report.table(["phase", "normal sent", "ok", "ok %", "req/s", "p50 ms", "p95 ms"], rows),
            "",
            report.table(["bomb status", "code", "latency ms"], bombs),
            "",
            report.table(["memory bomb", "bytes", "status", "code", "peak RSS above idle, MiB"], memory),
            f"(memory budget {result['memory_budget_mib']:,.0f} MiB)",
            "",
            f"Aborted uploads: {aborted['sent']} sent, {aborted['counted_client_closed']:.0f} counted as "
            f"499 client_closed, {aborted['new_5xx']:.0f} new 5xx; server alive: {result['server_alive']}, "
            f"RSS at the end {result['rss_end_mib']:,.0f} MiB",
            *overload_lines(result),
        ]
    )


def overload_lines(result: dict[str, Any]) -> list[str]:
    lines = []
    if "slow_uploads" in result:
        slow = result["slow_uploads"]
        normal = slow["normal"]
        lines.append(
            f"Slow uploads: {slow['tricklers']} tricklers answered {slow['trickler_answers']}; normal "
            f"requests {normal['ok']}/{normal['requests']} ok ({normal['ok_pct']:.1f} %), "
            f"p95 {normal['p95_ms']} ms"
        )
    if "overload" in result:
        o = result["overload"]
        lines.append(
            f"Overload: capacity {o['capacity_req_per_s']:.1f} req/s one at a time, offered "
            f"{o['offered_req_per_s']:.1f} req/s: {o['sent']} sent, {o['ok']} ok, {o['refused']} refused, "
            f"{o['timed_out']} timed out, {o['other']} other; goodput {o['goodput_req_per_s']:.1f} req/s "
            f"({o['goodput_pct_of_capacity']:.0f} % of capacity); refusal p50/p95/max "
            f"{o['refusal_p50_ms']} / {o['refusal_p95_ms']} / {o['refusal_max_ms']} ms; "
            f"admitted p95 {o['admitted_p95_ms']} ms; past deadline {o['past_deadline']}; "
            f"others: {o['other_kinds']}"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bgremove-attack-") as workdir:
        result = attack(args, Path(workdir), report.log)
    print(render(result), flush=True)
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))
    return 0 if result["aborted_uploads"]["new_5xx"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
