"""`zhnlp serve`: the HTTP service (`server.create_app`) under waitress.

This module is the command; `zhnlp/cli.py` imports it only when `zhnlp serve` runs (the one
place where the library reaches up to a face), so the library itself never imports
`server`.

Workers. `--workers N` is N worker processes. N = 1 (the default) serves from this process.
N > 1: this process binds and listens on the socket, then starts N workers with
multiprocessing's *spawn* (never fork: numba's GNU OpenMP is not fork-safe, and a fresh
interpreter loads the model cleanly); each worker inherits the listening socket and runs
waitress on it, so the kernel hands every new connection to one of them. This process
only supervises: a worker that dies after it was ready is started again; a worker that
fails while starting (a bad model, say) stops the service with its message. SIGTERM or
Ctrl-C stops everything.

Inside a worker, waitress runs `--http-threads` threads (default 8) that read, check and
answer requests concurrently, and the model runs in a process of the worker's own
(`server/model_process.py`, spawned too) with `--threads` torch threads (default: CPU
cores / workers less one, at least 1), one call at a time, each call taking every request
that queued up meanwhile. So on a small CPU, prefer 1 worker; more workers pay off when
cores are many, at the cost of one model in memory each.

The model process decodes with numba's serial kernels, so torch's is its only thread pool
(`zhnlp.decoders._dispatch`).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
import threading
import time

from zhnlp.errors import ZhnlpError
from zhnlp.shipped import model_directory

logger = logging.getLogger("zhnlp.serve")
RESTARTS_PER_MINUTE = 5  # workers (the model process has its own back-off)
EXIT_MODEL_DOWN = 1
REQUEST_TIMEOUT = 30  # seconds a client may take to send one request
IDLE_TIMEOUT = 60  # seconds a keep-alive connection may stay idle
CONNECTION_LIMIT = 500  # open connections per worker (each is a file descriptor)

def main(args: argparse.Namespace) -> int:
    for name in ("workers", "http_threads", "batch_size", "max_body_bytes", "max_texts",
                 "max_chars", "request_timeout"):
        if getattr(args, name) < 1:
            raise ZhnlpError(f"--{name.replace('_', '-')} must be at least 1, not "
                             f"{getattr(args, name)}.")
    if args.threads is not None and args.threads < 1:
        raise ZhnlpError(f"--threads must be at least 1, not {args.threads}.")
    if not 0 <= args.port <= 65535:
        raise ZhnlpError(f"--port must be between 0 and 65535, not {args.port}.")
    # one core left to the HTTP threads: on 2 cores, 1 torch thread answered 400 requests/s
    # at 8 clients, 2 threads 330 (benchmarks/results/load.md)
    threads = args.threads or max(1, (os.cpu_count() or 1) // args.workers - 1)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s[%(process)d] %(levelname)s: %(message)s")
    options = {"model": args.model, "threads": threads, "batch_size": args.batch_size,
               "user_dict": args.user_dict, "http_threads": args.http_threads,
               "max_body_bytes": args.max_body_bytes, "max_texts": args.max_texts,
               "max_chars": args.max_chars, "int8": args.int8,
               "request_timeout": args.request_timeout,
               "precision": args.precision, "device": args.device}
    sock = listen(args.host, args.port)
    host, port = sock.getsockname()[:2]
    url = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
    try:
        if args.workers == 1:
            return serve(sock, options, lambda: _ready(url, 1))
        return supervise(sock, args.workers, options, url)
    finally:
        sock.close()


def serve(sock: socket.socket, options: dict, ready) -> int:
    """Serve in this process until SIGTERM (0) or until the model process cannot be
    restarted (EXIT_MODEL_DOWN, so that systemd or Kubernetes restarts the service)."""
    status = {"code": 0}

    def give_up() -> None:  # from the model process's supervising thread
        logger.error("zhnlp serve: the model process cannot be restarted; exiting with "
                     "status %d", EXIT_MODEL_DOWN)
        status["code"] = EXIT_MODEL_DOWN
        os.kill(os.getpid(), signal.SIGTERM)

    def stop(signum, frame):
        raise SystemExit(status["code"])  # waitress closes on SystemExit

    server = make_server(sock, on_give_up=give_up, **options)
    previous = signal.signal(signal.SIGTERM, stop)
    try:
        ready()
        server.run()
    finally:
        signal.signal(signal.SIGTERM, previous)
    return status["code"]


def listen(host: str, port: int) -> socket.socket:
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(1024)
    except OSError as error:
        raise ZhnlpError(f"cannot listen on {host}:{port} ({error.strerror or error}); "
                         "choose another --host or --port.") from None
    sock.set_inheritable(True)
    return sock


def build_app(model: str | None, threads: int, batch_size: int, user_dict: str | None,
              max_body_bytes: int, max_texts: int, max_chars: int, int8: bool = False,
              precision: str | None = None, device: str | None = None, on_give_up=None, **_):
    """The app, its model loaded in a process of its own (`server/model_process.py`)."""
    if model is not None:  # before the heavy imports: a wrong --model fails in a blink
        model = str(model_directory(model))
        if not os.path.isfile(os.path.join(model, "config.json")):
            raise ZhnlpError(f"no zhnlp model in {model} (config.json is missing); pass the "
                             "directory of a model saved by zhnlp.")
    from server import create_app
    from server.model_process import ModelProcess

    name = None if model is None else os.path.basename(os.path.abspath(model))
    analyser = ModelProcess({"model": model, "threads": threads, "batch_size": batch_size,
                             "user_dict": user_dict, "int8": int8, "precision": precision,
                             "device": device, "name": name},
                            on_give_up=on_give_up)
    return create_app(analyser=analyser, max_body_bytes=max_body_bytes, max_texts=max_texts,
                      max_chars=max_chars)


def make_server(sock: socket.socket, http_threads: int, max_body_bytes: int,
                request_timeout: int = REQUEST_TIMEOUT, **options):
    """A waitress server on a listening socket, the app loaded."""
    app = build_app(max_body_bytes=max_body_bytes, **options)
    return waitress_server(app, sock, http_threads, max_body_bytes, request_timeout)


def waitress_server(app, sock: socket.socket, http_threads: int = 8,
                    max_body_bytes: int = 1 << 20, request_timeout: int = REQUEST_TIMEOUT):
    """waitress serving `app` on a listening socket, as `zhnlp serve` configures it."""
    from waitress import create_server

    from server.waitress_channel import JsonErrorChannel

    server = create_server(
        app, sockets=[sock], threads=http_threads, ident="zhnlp",
        # waitress refuses bodies over its own limit before the app sees them; keep that
        # limit well above the app's so that clients get the app's own 413.
        max_request_body_size=max(4 * max_body_bytes, max_body_bytes + (1 << 20)),
        # Slow or idle clients: many connections may wait (they cost no thread: waitress
        # reads requests in its main loop), each request must arrive within
        # request_timeout, an idle keep-alive connection closes after IDLE_TIMEOUT.
        connection_limit=CONNECTION_LIMIT, channel_timeout=IDLE_TIMEOUT,
        cleanup_interval=max(1, min(request_timeout, IDLE_TIMEOUT) // 2),
        asyncore_use_poll=True)  # select() cannot watch more than 1024 sockets
    server.channel_class = JsonErrorChannel.with_deadline(request_timeout)
    return server


def _ready(url: str, workers: int) -> None:
    # One line on stderr that scripts can wait for (tests and benchmarks/load.py do).
    logger.info("zhnlp serve: ready on %s (%d worker%s, pid %d)", url, workers,
                "" if workers == 1 else "s", os.getpid())


# -- several workers -------------------------------------------------------------------


def supervise(sock: socket.socket, workers: int, options: dict, url: str) -> int:
    import multiprocessing
    from multiprocessing.connection import wait

    context = multiprocessing.get_context("spawn")
    stopping = threading.Event()

    def stop(signum, frame):
        stopping.set()

    previous = signal.signal(signal.SIGTERM, stop)
    running: dict[int, tuple] = {}  # sentinel -> (process, reply pipe, ready?)
    restarts: list[float] = []

    def start() -> None:
        receive, send = context.Pipe(duplex=False)
        # not a daemon: a worker starts its model process (workers stop with us anyway)
        process = context.Process(target=worker_main, args=(sock, options, send, os.getpid()),
                                  name="zhnlp-worker")
        process.start()
        send.close()
        running[process.sentinel] = (process, receive, False)

    try:
        for _ in range(workers):
            start()
        announced = False
        while not stopping.is_set():
            waiting = [sentinel for sentinel, (_, _, ready) in running.items() if not ready]
            pipes = {running[s][1]: s for s in waiting}
            for ready in wait([*running, *pipes], timeout=1.0):
                if ready in pipes:  # a starting worker reports
                    sentinel = pipes[ready]
                    process, receive, _ = running[sentinel]
                    try:
                        message = receive.recv()
                    except EOFError:
                        continue  # it died: its sentinel says so
                    if message != "ready":
                        raise ZhnlpError(message)
                    running[sentinel] = (process, receive, True)
                    continue
                process, receive, was_ready = running.pop(ready)
                process.join()
                receive.close()
                if stopping.is_set():
                    break
                if not was_ready:
                    raise ZhnlpError(f"a worker exited while starting (exit code "
                                     f"{process.exitcode}); see the messages above.")
                now = time.monotonic()
                restarts[:] = [t for t in restarts if now - t < 60] + [now]
                if len(restarts) > RESTARTS_PER_MINUTE:
                    raise ZhnlpError(f"workers died {len(restarts)} times in a minute; "
                                     "stopping. See the messages above.")
                logger.warning("worker %d exited (code %s); starting another", process.pid,
                               process.exitcode)
                start()
            if not announced and all(ready for _, _, ready in running.values()):
                announced = True
                _ready(url, workers)
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        for process, _, _ in running.values():
            process.terminate()
        deadline = time.monotonic() + 10
        for process, receive, _ in running.values():
            process.join(max(0.1, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()
            receive.close()


def worker_main(sock: socket.socket, options: dict, reply, parent: int) -> None:
    """A spawned worker: load the model, say "ready" (or the error), serve until told."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s[%(process)d] %(levelname)s: %(message)s")
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the supervisor stops us (SIGTERM)
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
    started = False

    def ready() -> None:
        nonlocal started
        started = True
        reply.send("ready")
        reply.close()

    try:
        sys.exit(serve(sock, options, ready))
    except Exception as error:  # while starting: reported to the supervisor, which stops
        if started:
            raise
        reply.send(str(error) if isinstance(error, ZhnlpError)
                   else f"a worker failed to start: {type(error).__name__}: {error}")


def _exit_with_parent(parent: int) -> None:
    """Stop serving when the supervisor is gone (killed with no chance to stop us)."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)
