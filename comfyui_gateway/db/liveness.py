"""A pooled PostgreSQL connection is checked when it is taken, without a round trip.

``pool_pre_ping`` sent a ``SELECT 1`` before every checkout: one more round trip
through a busy server for each of the eight or so sessions a job opens (server and
worker). An idle connection receives nothing from PostgreSQL unless the server is
ending it: a shutdown or restart, ``pg_terminate_backend`` and
``idle_session_timeout`` each send a FATAL message and close the socket, and a crashed
server's sockets read as closed. So an idle socket with anything to read is dead, and
the pool replaces it before the caller sees it (a ``DisconnectionError`` raised from
the checkout event makes SQLAlchemy's pool discard the connection and take another).
What this cannot see, a silent network partition, a ping could only wait out too.
"""

from __future__ import annotations

import select
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection


def replace_dead_connections_on_checkout(engine: Engine) -> None:
    """Every checkout from ``engine``'s pool skips connections the server has ended."""

    @event.listens_for(engine, "checkout")
    def _check(
        dbapi_connection: Any, record: ConnectionPoolEntry, proxy: PoolProxiedConnection
    ) -> None:
        if ended_by_server(record.driver_connection):
            raise DisconnectionError("PostgreSQL ended this pooled connection")


def ended_by_server(connection: Any) -> bool:
    """True if the psycopg ``connection`` is closed or its idle socket has anything to
    read (what an idle connection only ever receives is the server's goodbye)."""
    if connection is None or connection.closed or connection.broken:
        return True
    try:
        socket_fd = connection.pgconn.socket
    except Exception:  # psycopg raises once libpq has no socket for it
        return True
    poller = select.poll()  # not select.select: no FD_SETSIZE limit
    poller.register(socket_fd, select.POLLIN | select.POLLERR | select.POLLHUP)
    return bool(poller.poll(0))
