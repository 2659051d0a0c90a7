"""A fork server for tests/test_crash_safety.py: the real `advqa` command line, many times, fast.

Python, torch, sentence-transformers and advqa take seconds to import and the embedding model
a while to load, far longer than the campaign the harness kills. This process pays for that
once: it imports the CLI, loads the embedding model (one torch thread, so no OpenMP pool exists
to be broken by fork), prints {"ready": true} and then reads one JSON command per stdin line:

    {"id": ..., "argv": ["generate", ...], "out": LOG, "env": {...}, "crash": "tear:stats.json:1"}

For each it forks a child that runs `advqa.cli.main()` with that argv (the code path of the
`advqa` script: the child only reuses the loaded embedding model), its stdout and stderr going
to LOG, and answers {"id", "pid"}; when a child ends, {"id", "exit"} (-9: killed). The test
kills children by pid with SIGKILL.

Test-only instrumentation inside each child, none of it in advqa itself:
- phase markers, `@@phase NAME` lines in LOG as the child enters indexing, config, probing,
  appending (a dataset line), dedup, stats, report, so that a kill can be attributed;
- with "crash", a self-kill at a chosen moment of a narrow window:
  `tear:NAME:N`           the Nth os.write to NAME (or to its staging file .NAME.*.tmp) writes
                          half its bytes, then SIGKILL;
  `before-replace:NAME:N` SIGKILL just before the Nth os.replace onto NAME;
  `after-replace:NAME:N`  SIGKILL just after it;
  `after-put-writes:VALUE:N` SIGKILL just after the checkpointer stored the Nth task's writes
                          setting `outcome` to VALUE (the step is done, its checkpoint not yet
                          written: a probe killed between two steps).
"""

from __future__ import annotations

import functools
import gc
import json
import os
import select
import signal
import sys
import time
import traceback

_write = os.write  # the real one, for markers, whatever a crash spec patches


def marker(kind: str, value: object) -> None:
    _write(1, f"@@{kind} {value} {time.monotonic():.4f}\n".encode())


def _die(spec: str) -> None:
    marker("crash", spec)
    os.kill(os.getpid(), signal.SIGKILL)


def install_crash(spec: str) -> None:
    mode, name, nth = spec.split(":")
    count = {"n": 0}

    def hit() -> bool:
        count["n"] += 1
        return count["n"] == int(nth)

    if mode == "tear":
        def matches(path: str) -> bool:
            base = os.path.basename(path)
            return base == name or (base.startswith(f".{name}.") and base.endswith(".tmp"))

        def write(fd: int, data) -> int:
            try:
                path = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                path = ""
            if matches(path) and hit():
                data = bytes(data)
                _write(fd, data[: max(1, len(data) // 2)])
                _die(spec)
            return _write(fd, data)

        os.write = write
    elif mode in ("before-replace", "after-replace"):
        real_replace = os.replace

        def replace(src, dst, *args, **kwargs):
            if os.path.basename(os.fspath(dst)) != name or not hit():
                return real_replace(src, dst, *args, **kwargs)
            if mode == "before-replace":
                _die(spec)
            real_replace(src, dst, *args, **kwargs)
            _die(spec)

        os.replace = replace
    elif mode == "after-put-writes":
        from langgraph.checkpoint.sqlite import SqliteSaver

        real_put_writes = SqliteSaver.put_writes

        def put_writes(self, config, writes, *args, **kwargs):
            result = real_put_writes(self, config, writes, *args, **kwargs)
            if any(channel == "outcome" and value == name for channel, value in writes) and hit():
                _die(spec)
            return result

        SqliteSaver.put_writes = put_writes
    else:
        raise ValueError(f"unknown crash mode {mode!r}")


def install_markers() -> None:
    import advqa.campaign.run as campaign
    import advqa.campaign.shared_files as shared_files
    import advqa.report as report
    import advqa.report.commands as report_commands
    import advqa.retrieval as retrieval

    def phase(function, name: str, after: str | None = None):
        @functools.wraps(function)
        def wrapped(*args, **kwargs):
            marker("phase", name)
            result = function(*args, **kwargs)
            if after:
                marker("phase", after)
            return result
        return wrapped

    retrieval.build_index = phase(retrieval.build_index, "indexing")
    campaign.write_config = phase(campaign.write_config, "config", after="probing")
    shared_files.SharedDataset.append = phase(shared_files.SharedDataset.append, "appending", after="probing")
    campaign.deduplicate = phase(campaign.deduplicate, "dedup")
    campaign.compute_stats = phase(campaign.compute_stats, "stats")
    report.write_report = phase(report.write_report, "report")
    report_commands.write_report = phase(report_commands.write_report, "report")


def child(command: dict) -> None:
    """Run one command line in this (forked) process and exit with its status; never returns."""
    code = 1
    try:
        fd = os.open(command["out"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
        os.environ.update(command.get("env") or {})
        install_markers()
        if command.get("crash"):
            install_crash(command["crash"])
        marker("phase", "startup")
        import advqa.cli

        sys.argv = ["advqa", *command["argv"]]
        try:
            advqa.cli.main()
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
        marker("exit", code)
    except BaseException:
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _reply(message: dict) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def serve() -> None:
    children: dict[int, str] = {}
    pending = b""
    while True:
        readable, _, _ = select.select([0], [], [], 0.01)
        if readable:
            data = os.read(0, 65536)
            if not data:
                break
            pending += data
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                command = json.loads(line)
                pid = os.fork()
                if pid == 0:
                    child(command)
                children[pid] = command["id"]
                _reply({"id": command["id"], "pid": pid})
        while children:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            _reply({"id": children.pop(pid), "exit": os.waitstatus_to_exitcode(status)})
    for pid in children:  # the test went away: end the children this server started
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def main() -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)  # frugal on a shared machine, and fork-safe: no OpenMP thread pool
    import langchain_openai  # noqa: F401  (imported by the children's model loading)
    import langgraph.checkpoint.sqlite  # noqa: F401

    import advqa.cli  # noqa: F401  (every command registered)
    from advqa.retrieval import Embedder
    from advqa.retrieval.embeddings import DEFAULT_EMBEDDING_MODEL

    embedder = Embedder()
    model = embedder._loaded_model()
    embedder.encode(["a warm-up sentence", "and another one"])
    load = Embedder._load
    Embedder._load = lambda self: model if self.name == DEFAULT_EMBEDDING_MODEL else load(self)
    # Children share these objects copy-on-write; kept out of the garbage collector's scans, their
    # pages are not copied by every child's first collection (which made children start slowly).
    gc.collect()
    gc.freeze()
    _reply({"ready": True, "pid": os.getpid()})
    serve()


if __name__ == "__main__":
    main()
