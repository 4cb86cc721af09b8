"""A PostgreSQL cluster of the test's own (initdb + pg_ctl in a temporary directory, on a
free loopback port), for tests that stop and start the database under a running server.
Never the machine's shared PostgreSQL."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.server import free_port


def postgres_bin_dir() -> Path | None:
    """The newest /usr/lib/postgresql/*/bin holding initdb, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _version(path: str) -> float:
    try:
        return float(path.split("/")[4])
    except (IndexError, ValueError):
        return 0.0


def _run_as() -> str | None:
    """initdb refuses root: run the cluster as `postgres` (or `nobody`) then."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    return None


@dataclass
class OwnPostgres:
    bin_dir: Path
    data_dir: Path
    port: int
    user: str | None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/townhall"

    def _cmd(self, *args: str) -> list[str]:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if self.user is not None:
            return ["runuser", "-u", self.user, "--", *command]
        return command

    def _run(self, *args: str, timeout: float = 60) -> None:
        subprocess.run(self._cmd(*args), check=True, capture_output=True, timeout=timeout)

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data_dir} "
            "-c fsync=off -c max_connections=60 -c shared_buffers=16MB"
        )
        self._run(
            "pg_ctl", "-D", str(self.data_dir / "pgdata"), "-l", str(self.data_dir / "log"),
            "-o", options, "-w", "-t", "30", "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data_dir / "pgdata"), "-m", mode, "-w", "stop")

    def create_database(self, name: str = "townhall") -> None:
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)


@contextmanager
def own_postgres() -> Iterator[OwnPostgres]:
    """A fresh cluster with a `townhall` database (trust auth on loopback); removed after."""
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        raise FileNotFoundError("no PostgreSQL server binaries (initdb)")
    user = _run_as()
    base = Path(tempfile.mkdtemp(prefix="townhall-pg-"))
    if user is not None:
        shutil.chown(base, user)
        base.chmod(0o700)
    pg = OwnPostgres(bin_dir, base, free_port(), user)
    try:
        pg._run(
            "initdb", "-D", str(base / "pgdata"), "-U", "postgres", "--auth=trust",
            "--no-sync", "-E", "UTF8",
        )  # fmt: skip
        pg.start()
        try:
            pg.create_database()
            yield pg
        finally:
            with contextlib.suppress(subprocess.CalledProcessError):  # stopped by the test
                pg.stop("immediate")
    finally:
        shutil.rmtree(base, ignore_errors=True)
