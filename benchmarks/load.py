"""Load test of `zhnlp serve`: a bounded number of requests from N concurrent clients on
loopback, latency percentiles, throughput, errors and the server's memory.

    python benchmarks/load.py --model models/zhnlp-base [--requests 5000] [--clients 8]
        [--workers 1] [--threads N] [--int8] [--http-threads 4] [--texts-per-request 1]
        [--tasks cws,pos] [--max-seconds 300] [--label "..."]
        [--markdown benchmarks/results/load.md] [--json raw.json]
    python benchmarks/load.py --tiny ...        # a random tiny model built on the fly
    python benchmarks/load.py --model base --model-only [--threads N]   # no server: the bound
    python benchmarks/load.py --url http://127.0.0.1:8000 ...   # a server already running

It starts `zhnlp serve --host 127.0.0.1 --port 0` itself (unless --url), waits for its
ready line, warms up, then runs the clients: threads in this process, each with one
keep-alive HTTP connection, taking requests from a shared counter until --requests are
done or --max-seconds pass. Each request is POST /v1/annotate with one sentence (or
--texts-per-request of them) cycled from a fixed list of everyday sentences. Reported:
p50/p90/p99/max latency (ms, per request, client side), requests/s over the timed run,
errors (non-200 answers and failed connections), and the server's RSS (the supervisor and
its workers together, from /proc) before and after the run.

Loopback only: --url must name localhost, 127.0.0.0/8 or ::1 (no name is looked up); the
script refuses anything else.
The clients share the machine with the server: on a small machine their own CPU time is in
the numbers, and the load average is printed beside them.
"""

from __future__ import annotations

import argparse
import http.client
import ipaddress
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from a checkout
from benchmarks.support import (  # noqa: E402
    build_tiny_model,
    process_tree,
    rss_kib,
    start_in_subprocess,
)
from zhnlp.errors import ZhnlpError  # noqa: E402

SENTENCES = [
    "他叫汤姆去拿外衣。",
    "北京大学的李白教授昨天在上海发表了演讲。",
    "我们今天下午三点在图书馆门口见面吧。",
    "这家公司去年的销售额增长了百分之二十。",
    "小明把作业交给了老师。",
    "新冠疫情对全球经济造成了严重影响。",
    "请把窗户关上，外面太冷了。",
    "他在清华大学学习计算机科学。",
    "苹果公司发布了新款手机。",
    "明天的天气预报说会下雨。",
    "中国女排在比赛中战胜了对手。",
    "我昨天买了一本关于历史的书。",
]
GOALS = {"p50_ms": 10.0, "p99_ms": 40.0}  # issue 16 (issue 7 had 15 and 60)


def loopback(host: str) -> bool:
    """localhost or a loopback IP literal; no name is resolved (that would be traffic)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def start_server(args, model: str) -> tuple[subprocess.Popen, str]:
    options = ["--model", model, "--workers", str(args.workers),
               "--http-threads", str(args.http_threads)]
    if args.threads:
        options += ["--threads", str(args.threads)]
    if args.int8:
        options.append("--int8")
    if args.precision:
        options += ["--precision", args.precision]
    try:
        return start_in_subprocess(options, timeout=300)
    except ZhnlpError as error:
        sys.exit(str(error))


def run_clients(host: str, port: int, bodies: list[bytes], total: int, clients: int,
                max_seconds: float) -> tuple[list[float], int, float, dict]:
    latencies: list[float] = []
    errors = {"count": 0, "examples": []}
    lock = threading.Lock()
    counter = iter(range(total))
    stop_at = time.monotonic() + max_seconds

    def client() -> None:
        connection = http.client.HTTPConnection(host, port, timeout=60)
        mine = []
        while time.monotonic() < stop_at:
            with lock:
                number = next(counter, None)
            if number is None:
                break
            body = bodies[number % len(bodies)]
            started = time.perf_counter()
            try:
                connection.request("POST", "/v1/annotate", body=body,
                                   headers={"Content-Type": "application/json"})
                response = connection.getresponse()
                data = response.read()
                status = response.status
            except (OSError, http.client.HTTPException) as error:
                status, data = 0, repr(error).encode()
                connection.close()
                connection = http.client.HTTPConnection(host, port, timeout=60)
            elapsed = time.perf_counter() - started
            if status == 200:
                mine.append(elapsed)
            else:
                with lock:
                    errors["count"] += 1
                    if len(errors["examples"]) < 3:
                        errors["examples"].append(f"{status}: {data[:200]!r}")
        connection.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, errors["count"], time.perf_counter() - started, errors


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def build_tiny(directory: Path) -> str:
    build_tiny_model().save(directory)
    return str(directory)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", metavar="DIR", help="model directory")
    parser.add_argument("--tiny", action="store_true", help="build and serve the random "
                        "tiny model of the tests")
    parser.add_argument("--url", help="an already running server (loopback only)")
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, help="torch threads per worker")
    parser.add_argument("--int8", action="store_true", help="serve with the encoder in int8")
    parser.add_argument("--precision", choices=["int8", "fp32"],
                        help="the server's --precision (default: the server's default, int8)")
    parser.add_argument("--http-threads", type=int, default=8)
    parser.add_argument("--texts-per-request", type=int, default=1)
    parser.add_argument("--tasks", help="comma-separated tasks (default: all)")
    parser.add_argument("--warmup", type=int, default=50, help="untimed requests first")
    parser.add_argument("--max-seconds", type=float, default=300,
                        help="stop the timed run after this long (default: 300)")
    parser.add_argument("--label", help="what the model is, for the report")
    parser.add_argument("--markdown", help="append a result section to this file")
    parser.add_argument("--json", help="write the raw numbers here")
    parser.add_argument("--model-only", action="store_true", help="no server: the model's "
                        "own sentences/s in batches of --clients sentences, in this process, "
                        "and the p50 that bounds (clients / throughput)")
    args = parser.parse_args()
    if args.model_only:
        model_only(args)
        return
    if not 1 <= args.clients <= 64 or not 1 <= args.requests <= 100_000:
        sys.exit("--clients must be 1..64 and --requests 1..100000")
    if sum(map(bool, (args.model, args.tiny, args.url))) != 1:
        sys.exit("give one of --model DIR, --tiny or --url")

    temporary = None
    process = None
    if args.url:
        parts = urlsplit(args.url)
        if parts.scheme != "http" or not parts.hostname or not loopback(parts.hostname):
            sys.exit(f"--url must be http:// on loopback (127.0.0.0/8 or ::1), not {args.url}")
        url = f"http://{parts.netloc}"
        model = "(running server)"
    else:
        if args.tiny:
            temporary = tempfile.TemporaryDirectory(prefix="zhnlp-load-")
            model = build_tiny(Path(temporary.name) / "tiny")
        else:
            model = args.model
        process, url = start_server(args, model)
    parts = urlsplit(url)
    host, port = parts.hostname, parts.port
    try:
        info = json.loads(_get(host, port, "/v1/info"))
        tasks = args.tasks.split(",") if args.tasks else None
        bodies = []
        for first in range(len(SENTENCES)):
            texts = [SENTENCES[(first + k) % len(SENTENCES)]
                     for k in range(args.texts_per_request)]
            request = {"text": texts[0]} if args.texts_per_request == 1 else {"texts": texts}
            if tasks:
                request["tasks"] = tasks
            bodies.append(json.dumps(request, ensure_ascii=False).encode())
        pids = process_tree(process.pid) if process else []
        run_clients(host, port, bodies, args.warmup, min(args.clients, args.warmup), 60)
        rss_before = rss_kib(pids)
        latencies, errors, elapsed, error_info = run_clients(
            host, port, bodies, args.requests, args.clients, args.max_seconds)
        rss_after = rss_kib(pids)
    finally:
        if process:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        if temporary:
            temporary.cleanup()

    done = len(latencies) + errors
    result = {
        "model": info.get("model"), "label": args.label or ("tiny random model (tests)"
                                                            if args.tiny else model),
        "tasks": tasks, "workers": args.workers,  # None: the service's default tasks
        "threads": args.threads, "int8": args.int8, "precision": args.precision,
        "http_threads": args.http_threads,
        "clients": args.clients, "texts_per_request": args.texts_per_request,
        "requests": done, "ok": len(latencies), "errors": errors,
        "error_examples": error_info["examples"],
        "seconds": round(elapsed, 2), "requests_per_s": round(done / elapsed, 1),
        "p50_ms": round(percentile(latencies, 50) * 1000, 2),
        "p90_ms": round(percentile(latencies, 90) * 1000, 2),
        "p99_ms": round(percentile(latencies, 99) * 1000, 2),
        "max_ms": round(max(latencies, default=float("nan")) * 1000, 2),
        "rss_before_mib": round(rss_before / 1024, 1) if pids else None,
        "rss_after_mib": round(rss_after / 1024, 1) if pids else None,
        "server_processes": len(pids) or None,
        "cpus": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(), "date": time.strftime("%Y-%m-%d %H:%M"),
        "stopped_early": done < args.requests,
    }
    result["goals_apply"] = args.clients == 8 and args.texts_per_request == 1
    result["goals_met"] = (result["goals_apply"] and result["p50_ms"] <= GOALS["p50_ms"]
                           and result["p99_ms"] <= GOALS["p99_ms"] and errors == 0)
    print(json.dumps(result, indent=1, ensure_ascii=False))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    if args.markdown:
        with open(args.markdown, "a", encoding="utf-8") as out:
            out.write(markdown(result))
    return 0 if errors == 0 else 1


def model_only(args: argparse.Namespace) -> None:
    """What the model alone allows: with N clients each waiting for its answer, a batch of
    N sentences is the most a call can take, so p50 >= N / (sentences/s in such batches)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import zhnlp

    pipeline = zhnlp.load(args.model, threads=args.threads, precision=args.precision)
    tasks = args.tasks.split(",") if args.tasks else None
    batch = [SENTENCES[k % len(SENTENCES)] for k in range(args.clients)]
    pipeline(batch, tasks=tasks)  # warm up
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < 10:
        pipeline(batch, tasks=tasks)
        done += len(batch)
    rate = done / (time.perf_counter() - start)
    print(f"{args.model}, tasks {args.tasks or 'default'}, torch threads "
          f"{args.threads or 'default'}: {rate:.0f} sentences/s in batches of "
          f"{args.clients}; p50 for {args.clients} clients >= {1000 * args.clients / rate:.1f} ms")


def markdown(r: dict) -> str:
    count = r["server_processes"]
    rss = (f"{r['rss_before_mib']} → {r['rss_after_mib']} MiB ({count} "
           f"process{'es' if count != 1 else ''})" if r["rss_before_mib"] is not None
           else "not measured")
    return (
        f"\n## {r['date']}: {r['label']}\n\n"
        f"`zhnlp serve --workers {r['workers']}"
        + (f" --threads {r['threads']}" if r["threads"] else "")
        + (" --int8" if r.get("int8") else "")
        + (f" --precision {r['precision']}" if r.get("precision") else "")
        + f" --http-threads {r['http_threads']}`; {r['clients']} client"
        f"{'s' if r['clients'] != 1 else ''} on 127.0.0.1, "
        f"{r['texts_per_request']} sentence(s) per request, tasks "
        f"{','.join(r['tasks']) if r['tasks'] else 'not named (the default ones)'}; "
        f"{r['cpus']} CPUs, load average "
        f"{' / '.join(map(str, r['load_average']))} at the end; Python {r['python']}.\n\n"
        "| requests | errors | requests/s | p50 ms | p90 ms | p99 ms | max ms | server RSS "
        "before → after |\n|---|---|---|---|---|---|---|---|\n"
        f"| {r['requests']} | {r['errors']} | {r['requests_per_s']} | {r['p50_ms']} | "
        f"{r['p90_ms']} | {r['p99_ms']} | {r['max_ms']} | {rss} |\n\n"
        f"Goals (p50 ≤ {GOALS['p50_ms']:g} ms, p99 ≤ {GOALS['p99_ms']:g} ms, 0 errors, "
        "for 8 clients sending 1 sentence each): "
        + ("met" if r["goals_met"] else "not met" if r["goals_apply"] else "not applicable")
        + (" (stopped early at --max-seconds)" if r["stopped_early"] else "") + ".\n")


def _get(host: str, port: int, path: str) -> bytes:
    connection = http.client.HTTPConnection(host, port, timeout=30)
    connection.request("GET", path)
    return connection.getresponse().read()


if __name__ == "__main__":
    sys.exit(main())
