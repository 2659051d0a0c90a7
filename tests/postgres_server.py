"""A throwaway PostgreSQL cluster for the tests: initdb in a temporary folder, a free local port,
run as the `postgres` user when the tests run as root (PostgreSQL refuses to run as root)."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class NoServer(Exception):
    """PostgreSQL is not installed here, or its cluster would not start; the message says which."""


def server_binaries() -> Path | None:
    """The folder holding initdb and pg_ctl: `pg_config --bindir`, else Debian's versioned folder."""
    if shutil.which("pg_config"):
        found = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True).stdout.strip()
        if found and (Path(found) / "initdb").is_file():
            return Path(found)
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(candidates[-1]).parent if candidates else None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def throwaway_cluster(fsync: bool = False) -> Iterator[str]:
    """Start a cluster, yield its URL (user postgres, trust authentication, 127.0.0.1 only), and
    stop and delete it at the end. Without `fsync` (tests) commits do not wait for the disk;
    with it (benchmarks) they do, as on a server that must survive a power cut."""
    binaries = server_binaries()
    if binaries is None:
        raise NoServer("PostgreSQL is not installed (make test installs Debian's postgresql)")
    as_postgres = []
    folder = Path(tempfile.mkdtemp(prefix="advqa-postgres-"))
    if os.geteuid() == 0:
        as_postgres = ["runuser", "-u", "postgres", "--"]
        shutil.chown(folder, "postgres", "postgres")
    data, port = folder / "data", free_port()

    def run(*command: str | Path) -> None:
        done = subprocess.run([*as_postgres, *map(str, command)], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise NoServer(f"{Path(str(command[0])).name} failed: "
                           f"{(done.stderr or done.stdout).strip().splitlines()[-1:]}")

    try:
        run(binaries / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        run(binaries / "pg_ctl", "-D", data, "-l", folder / "server.log", "-w", "-o",
            f"-p {port} -h 127.0.0.1 -k {folder} -c fsync={'on' if fsync else 'off'} -c max_connections=100",
            "start")
        try:
            yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
        finally:
            stop = [str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]
            subprocess.run([*as_postgres, *stop], capture_output=True, timeout=60)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
