"""A real PostgreSQL server for the tests: Debian's binaries, a throwaway cluster in a temp folder on
a free port, run as the postgres user when the tests run as root (the server refuses root)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Iterator, Optional


def _binaries() -> Optional[Path]:
    found = shutil.which("pg_ctl")
    if found:
        return Path(os.path.realpath(found)).parent
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "pg_ctl").exists():
            return candidate
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def postgres_server() -> Iterator[str]:
    """Start a cluster; yield its SQLAlchemy URL; stop and remove it."""
    binaries = _binaries()
    if binaries is None:
        raise RuntimeError("PostgreSQL is not installed (Debian: apt-get install postgresql; .ci/run installs it)")
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    folder = Path(tempfile.mkdtemp(prefix="bond-pg-"))
    data, sockets = folder / "data", folder / "sockets"
    sockets.mkdir()
    if as_postgres:
        shutil.chown(folder, "postgres")
        shutil.chown(sockets, "postgres")
    port = _free_port()
    run = lambda *args: subprocess.run([*as_postgres, *args], check=True, capture_output=True, text=True, timeout=120)  # noqa: E731
    user = "postgres" if as_postgres else os.environ.get("USER", "postgres")
    try:
        run(str(binaries / "initdb"), "-D", str(data), "-U", user, "--auth=trust", "-E", "UTF8")
        run(str(binaries / "pg_ctl"), "-D", str(data), "-w", "-t", "60", "-l", str(folder / "server.log"), "start",
            "-o", f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off")
        yield f"postgresql+psycopg2://{user}@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_postgres, str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True, timeout=60)
        shutil.rmtree(folder, ignore_errors=True)
