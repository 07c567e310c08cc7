"""The portal's memory while a large upload streams through it, against the same process idle.

    uv run --frozen python bench/portal_upload.py [--mb 50] [--out bench/results/portal_upload.md]

Starts `yitu portal` (a real uvicorn process) on a fresh YITU_HOME, adds a clerk of the 12345
hotline with `yitu accounts add`, signs in through the form and opens the pages once (warm),
then uploads a CSV of `--mb` MiB through the upload form while the portal process's RSS is
sampled every 10 ms (/proc/PID/status). The promise: the upload is streamed to disk, so the
peak stays near the idle figure whatever the file's size; a parser that held the body would
grow by the file's size. The file must land whole (same sha256) in the landing zone.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "bench password 0123"
CHUNK = 256 * 1024


def rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024  # type: ignore[union-attr]


def write_csv(path: Path, mib: int) -> str:
    """A work-order CSV of `mib` MiB; its sha256."""
    row = "G{:09d},2026-11-02 09:00:00,投诉,460105,噪音扰民，夜间施工未停止\n"
    h = hashlib.sha256()
    with path.open("wb") as out:
        head = b"GDBH,SLSJ,GDLX,XZQDM,NRMS\n"
        out.write(head)
        h.update(head)
        i = 0
        while out.tell() < mib * 1024**2:
            block = "".join(row.format(i + k) for k in range(1000)).encode()
            out.write(block)
            h.update(block)
            i += 1000
    return h.hexdigest()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def body(token: str, csv: Path) -> tuple[Iterator[bytes], int]:
    head = (f'--B\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n{token}\r\n'
            '--B\r\nContent-Disposition: form-data; name="file"; filename="工单.csv"\r\n'
            "Content-Type: text/csv\r\n\r\n").encode()
    tail = b"\r\n--B--\r\n"

    def chunks() -> Iterator[bytes]:
        yield head
        with csv.open("rb") as f:
            while chunk := f.read(CHUNK):
                yield chunk
        yield tail
    return chunks(), len(head) + csv.stat().st_size + len(tail)


def measure(mib: int, work: Path) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("YITU_")}
    env.update(YITU_HOME=str(work / "home"), YITU_PII_KEY="bench-key-0123456789abcdef")
    cli = [sys.executable, "-m", "pipelines.cli"]
    subprocess.run([*cli, "accounts", "add", "clerk", "--department", "12345政务服务便民热线"],
                   input=PASSWORD + "\n", text=True, env=env, cwd=ROOT, check=True,
                   capture_output=True)
    csv = work / "orders.csv"
    sha = write_csv(csv, mib)
    port = free_port()
    server = subprocess.Popen([*cli, "portal", "--port", str(port)], env=env, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=600) as client:
            for _ in range(300):
                try:
                    client.get("/login")
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
            assert token
            client.post("/login", data={"login": "clerk", "password": PASSWORD,
                                        "csrf": token.group(1)})
            page = client.get("/datasets/complaints").text  # warm: every page's code loaded
            client.get("/")
            token = re.search(r'name="csrf" value="([^"]+)"', page)
            assert token
            time.sleep(1)
            idle = rss_mib(server.pid)
            peak, done = [idle], threading.Event()

            def sample() -> None:
                while not done.is_set():
                    peak.append(rss_mib(server.pid))
                    time.sleep(0.01)

            sampler = threading.Thread(target=sample)
            sampler.start()
            chunks, length = body(token.group(1), csv)
            started = time.perf_counter()
            r = client.post("/datasets/complaints/upload", content=chunks,
                            headers={"content-type": "multipart/form-data; boundary=B",
                                     "content-length": str(length)})
            seconds = time.perf_counter() - started
            done.set()
            sampler.join()
        landed = [p for p in (work / "home" / "landing" / "complaints").iterdir()
                  if p.suffix == ".csv"]
        whole = len(landed) == 1 and hashlib.sha256(landed[0].read_bytes()).hexdigest() == sha
        return {"mib": mib, "status": r.status_code, "landed whole": whole,
                "idle MiB": round(idle, 1), "peak MiB": round(max(peak), 1),
                "growth MiB": round(max(peak) - idle, 1), "seconds": round(seconds, 2),
                "MiB/s": round(mib / seconds, 1), "samples": len(peak)}
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=50, help="upload size in MiB (default 50)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "portal_upload.md")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="yitu-portal-bench-") as tmp:
        res = measure(args.mb, Path(tmp))
    lines = [f"# The portal's memory during a {args.mb} MiB upload "
             f"({datetime.now():%Y-%m-%d %H:%M})", "",
             "`yitu portal` as its own process; RSS of that process from /proc every 10 ms, idle "
             "= after sign-in and one visit of each page. The body is streamed to a temporary "
             "file and handed to `drop_file`.", "",
             "| " + " | ".join(res) + " |", "|" + "---|" * len(res),
             "| " + " | ".join(str(v) for v in res.values()) + " |", ""]
    args.out.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))
    ok = res["status"] == 303 and res["landed whole"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
