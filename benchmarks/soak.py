"""Soak test of `zhnlp serve`: many requests from keep-alive clients, the RSS of every
process before, during and after, then slow-client resistance.

    python benchmarks/soak.py --model models/zhnlp-base [--requests 20000] [--clients 16]
        [--phases 4] [--slow 120] [--int8]
    python benchmarks/soak.py --tiny ...      # a random tiny model built on the fly

Goals (issue 19): 0 errors; model-process RSS growth <= 10 % after warm-up (the first
phase); with --slow connections sending one header byte a second, normal requests still
answered within 1 s. Prints one JSON record.
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from a checkout
from benchmarks.load import SENTENCES, percentile, run_clients  # noqa: E402
from benchmarks.support import (  # noqa: E402
    build_tiny_model,
    process_tree,
    rss_kib,
    start_in_subprocess,
)


def rss_by_process(pid: int) -> dict[str, float]:
    """MB per process of the service: the HTTP process, then its children."""
    return {("http" if p == pid else f"child {p}"): round(rss_kib([p]) / 1024, 1)
            for p in process_tree(pid)}


def slow_clients(port: int, count: int, seconds: int) -> list[float]:
    """`count` connections sending one header byte a second; a normal request timed each
    second."""
    slow = [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]
    latencies = []
    try:
        for _ in range(seconds):
            for sock in slow:
                try:
                    sock.sendall(b"G")
                except OSError:
                    pass
            started = time.perf_counter()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            connection.request("POST", "/v1/annotate", body=json.dumps(
                {"text": SENTENCES[0]}).encode(), headers={"Content-Type": "application/json"})
            connection.getresponse().read()
            connection.close()
            latencies.append(round(time.perf_counter() - started, 3))
            time.sleep(1)
    finally:
        for sock in slow:
            sock.close()
    return latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", metavar="DIR")
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--phases", type=int, default=4)
    parser.add_argument("--slow", type=int, default=120)
    parser.add_argument("--slow-seconds", type=int, default=6)
    parser.add_argument("--int8", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        model = args.model
        if args.tiny:
            model = str(Path(scratch) / "tiny")
            build_tiny_model().save(model)
        options = ["--threads", "1"] + (["--model", model] if model else [])
        options += ["--int8"] if args.int8 else []
        process, url = start_in_subprocess(options, timeout=300)
        port = int(url.rsplit(":", 1)[1])
        try:
            bodies = [json.dumps({"text": text}, ensure_ascii=False).encode()
                      for text in SENTENCES]
            record = {"requests": args.requests, "clients": args.clients,
                      "rss_mb": {"start": rss_by_process(process.pid)}, "phases": []}
            per_phase = args.requests // args.phases
            for _ in range(args.phases):
                latencies, errors, seconds, _ = run_clients(
                    "127.0.0.1", port, bodies, per_phase, args.clients, 3600)
                record["phases"].append({
                    "requests": per_phase, "errors": errors,
                    "p50_ms": round(percentile(latencies, 50) * 1000, 1),
                    "p99_ms": round(percentile(latencies, 99) * 1000, 1),
                    "requests_per_s": round(per_phase / seconds, 1),
                    "rss_mb": rss_by_process(process.pid)})
            record["slow_clients"] = {"connections": args.slow, "normal_request_s":
                                      slow_clients(port, args.slow, args.slow_seconds)}
            record["rss_mb"]["after"] = rss_by_process(process.pid)
        finally:
            process.terminate()
            process.wait(30)
    print(json.dumps(record, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
