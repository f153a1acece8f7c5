"""PostgreSQL beyond the ORM's own calls: the check of a pooled connection, and reads on the event loop.

- `pooled_connection_check`: a connection handed out by the pool must be alive (a database restart breaks
  every pooled one), but asking the server costs a round trip on every request. An idle connection has
  nothing to read: the server only writes to it to say it is closing it (or to notify). So the socket is
  polled without waiting, and only a connection with something to read gets the full check, which fails
  on a closed one and then the pool replaces it.
- `Read`: a read by the event loop itself, on an async psycopg connection of a pool of this process, under
  the ASGI server (`higgs_project.asgi` turns it on for each request it handles). Django's async ORM would
  send the query to a thread and back; the SQL is still Django's (the same compiler, the same converters
  of the values), compiled once per shape of the query. Elsewhere (SQLite, the test client, WSGI) the
  queryset is read in the request's thread as before.
- `prepared_cursor`: a cursor of Django's own connection whose statements PostgreSQL prepares, for the
  compiled reads a request makes in its thread (Django's own statements are bound on the client and never
  prepared). Both kinds of read are prepared once on each connection, unless DATABASE_PREPARED_READS is off.
"""

import asyncio
import contextlib
import contextvars
import select

from asgiref.sync import sync_to_async

# Set by the ASGI handler for the requests it serves: their reads may use this process's async pool.
reads_on_loop = contextvars.ContextVar("reads_on_loop", default=False)


def pooled_connection_check(conn) -> None:
    """Raise when a pooled connection is broken; costs a round trip only when the server has written to it."""
    from psycopg import OperationalError
    from psycopg.pq import TransactionStatus
    from psycopg_pool import ConnectionPool

    if conn.closed or conn.info.transaction_status != TransactionStatus.IDLE:
        raise OperationalError("the pooled connection is closed or not idle")
    readable, _, _ = select.select([conn.fileno()], [], [], 0)
    if readable:
        ConnectionPool.check_connection(conn)


def pooled_connections_release() -> None:
    """Give this thread's pooled connections back to their pool, but not one inside a transaction.

    A request's thread keeps the connection it took until the request ends; a reply keeps its request
    open while Claude writes (a second or more), so each of its steps gives the connection back instead,
    and a burst of replies needs no more connections than it has database steps running at once.
    """
    from django.db import connections

    for conn in connections.all(initialized_only=True):
        if conn.connection is not None and not conn.in_atomic_block and conn.settings_dict["OPTIONS"].get("pool"):
            conn.close()


class _LoopConnections:
    """The connections of the reads of one event loop: up to DATABASE_ASYNC_POOL_MAX_SIZE at once (a read
    waits for one beyond that), kept while idle. No background task: a read makes a connection when no idle
    one is there, and gives it back after."""

    def __init__(self, size: int):
        self._idle = []
        self._size = size
        self._slots = asyncio.Semaphore(size)

    @contextlib.asynccontextmanager
    async def connection(self):
        async with self._slots:
            conn = None
            while self._idle and conn is None:
                conn = self._idle.pop()
                try:
                    await _async_check(conn)
                except Exception:  # broken: a new one instead
                    await _close_quietly(conn)
                    conn = None
            if conn is None:
                conn = await _connect()
            try:
                yield conn
            except BaseException:
                await _close_quietly(conn)  # its state is unknown
                raise
            if len(self._idle) < self._size and _idle(conn):
                self._idle.append(conn)
            else:
                await _close_quietly(conn)

    async def close(self) -> None:
        while self._idle:
            await _close_quietly(self._idle.pop())


class _AsyncPools:
    """The connections of each event loop (one loop per web process; tests start several), closed with
    their loop: asyncio closes the async generators of a loop as it ends, and their keeper is one."""

    def __init__(self):
        self._pools = {}

    async def get(self) -> _LoopConnections:
        from django.conf import settings

        loop = asyncio.get_running_loop()
        kept = self._pools.get(loop)
        if kept is None:
            keeper = self._keep(loop, _LoopConnections(settings.DATABASE_ASYNC_POOL_MAX_SIZE))
            kept = self._pools[loop] = (await anext(keeper), keeper)
        return kept[0]

    async def _keep(self, loop, pool: _LoopConnections):
        try:
            yield pool
        finally:
            self._pools.pop(loop, None)
            await pool.close()


# Reads pass prepare=True or False each time; the threshold applies only to a call that passes neither (the
# connection's check, an empty statement, which is not to be prepared).
_PREPARE_ONLY_WHEN_ASKED = 1_000_000


async def _connect():
    from django.conf import settings
    from django.db import connections
    from psycopg import AsyncConnection

    wrapper = connections["default"]
    params = wrapper.get_connection_params()
    # Django's sync cursor class; the async default binds on the server, which lets the reads be prepared.
    params.pop("cursor_factory", None)
    # Django turns psycopg's prepared statements off (prepare_threshold None: for poolers in transaction
    # mode), and then psycopg ignores `prepare=True` too. These connections are this process's own, so a
    # kept read is prepared on each of them once (unless DATABASE_PREPARED_READS is off).
    params["prepare_threshold"] = _PREPARE_ONLY_WHEN_ASKED if settings.DATABASE_PREPARED_READS else None
    conn = await AsyncConnection.connect(**params, autocommit=True)
    # The time zone Django's own connections get (`DatabaseWrapper._configure_timezone`).
    if wrapper.timezone_name and conn.info.parameter_status("TimeZone") != wrapper.timezone_name:
        await conn.execute(wrapper.ops.set_time_zone_sql(), [wrapper.timezone_name])
    return conn


def _idle(conn) -> bool:
    from psycopg.pq import TransactionStatus

    return not conn.closed and conn.info.transaction_status == TransactionStatus.IDLE


async def _close_quietly(conn) -> None:
    try:
        await conn.close()
    except Exception:  # noqa: BLE001, S110 - a broken connection is being dropped anyway
        pass


async def _async_check(conn) -> None:
    """`pooled_connection_check` of an async connection."""
    from psycopg import OperationalError

    if not _idle(conn):
        raise OperationalError("the connection is closed or not idle")
    readable, _, _ = select.select([conn.fileno()], [], [], 0)
    if readable:
        await conn.execute("")


_pools = _AsyncPools()


def _on_loop(qs) -> bool:
    from django.conf import settings
    from django.db import connections

    return (
        reads_on_loop.get()
        and settings.DATABASE_ASYNC_POOL_MAX_SIZE > 0
        and qs.db == "default"
        and connections[qs.db].vendor == "postgresql"
    )


class Read:
    """A read on the event loop (under the ASGI server; elsewhere in the request's thread) whose SQL Django
    compiles once per shape: building a queryset and compiling it cost more than the query itself.

    `build(limit=..., **binds)` makes the queryset. The shape is the limit (Django writes it into the SQL)
    and which binds are None; the other binds only fill the SQL's parameters (ids, times). A compiled query
    is kept only when each bind fills parameters and no two binds could be mistaken for each other (equal
    values), or a bind for a constant of the query; a list, which fills one parameter per item, is never kept.

    `Read(build)` gives the `.values()` rows of `build`'s queryset as dicts; `Read(build, models=True)` its
    model instances (every column), each with the object of its foreign key `related`, as select_related does.
    """

    def __init__(self, build, *, models: bool = False, related: str | None = None):
        self._build, self._models, self._related = build, models, related
        self._compiled = {}

    async def __call__(self, limit: int | None = None, **binds) -> list:
        shape = _shape(limit, binds)
        compiled = self._compiled.get(shape)
        if compiled is None or not reads_on_loop.get():
            qs = self._build(limit=limit, **binds)
            if not _on_loop(qs):
                if self._models and self._related:
                    qs = qs.select_related(self._related)
                return await sync_to_async(list)(qs)
            compiled = self._compile(qs, shape, binds)
        pool = await _pools.get()
        async with pool.connection() as conn:
            # Prepared on each connection the first time: PostgreSQL then skips parsing and planning it.
            cursor = await conn.execute(compiled.sql, compiled.params(binds), prepare=compiled.reusable)
            return self._shaped(compiled, await cursor.fetchall())

    def sync(self, limit: int | None = None, **binds) -> list:
        """The same rows, read in this thread on Django's connection (any database), the SQL compiled once per
        shape as on the loop: for the reads a reply makes in its request's thread."""
        from django.db import connections

        shape = _shape(limit, binds)
        compiled = self._compiled.get(shape) or self._compile(self._build(limit=limit, **binds), shape, binds)
        connection = connections["default"]
        with prepared_cursor(connection) if compiled.reusable else connection.cursor() as cursor:
            cursor.execute(compiled.sql, compiled.params(binds))
            return self._shaped(compiled, cursor.fetchall())

    def _compile(self, qs, shape: tuple, binds: dict) -> "_Compiled":
        compiled = _compile(self._columns(qs) if self._models else qs, binds)
        if compiled.reusable:
            self._compiled[shape] = compiled
        return compiled

    def _shaped(self, compiled: "_Compiled", rows: list) -> list:
        """Rows as the queryset gives them: through Django's converters, as dicts or model instances."""
        if compiled.converters:
            rows = compiled.compiler.apply_converters(rows, compiled.converters)
        if self._models:
            return [self._model(compiled, row) for row in rows]
        return [dict(zip(compiled.names, row, strict=True)) for row in rows]

    def _columns(self, qs):
        model = qs.model
        lookups = [f.attname for f in model._meta.concrete_fields]
        if self._related:
            related = model._meta.get_field(self._related).related_model
            lookups += [f"{self._related}__{f.attname}" for f in related._meta.concrete_fields]
        return qs.values_list(*lookups)

    def _model(self, compiled, row):
        model = compiled.model
        names = compiled.model_names
        obj = model.from_db("default", names, row[: len(names)])
        if self._related:
            field = model._meta.get_field(self._related)
            other_names = compiled.related_names
            values = row[len(names) :]
            other = None
            if values[other_names.index(field.related_model._meta.pk.attname)] is not None:
                other = field.related_model.from_db("default", other_names, values)
            field.set_cached_value(obj, other)
        return obj


def prepared_cursor(connection):
    """A cursor of Django's `connection` whose statements PostgreSQL prepares, on the first run on each pooled
    connection: it then skips parsing and planning them (the taste's read plans in 2 ms and runs in 0.2 ms).

    Django binds parameters on the client and turns psycopg's preparing off (for poolers in transaction mode);
    this cursor binds them on the server, on the same connection and in the same transaction, and it is
    wrapped like Django's own (queries logged when Django logs them). Only for statements of a fixed text,
    run again and again; elsewhere (SQLite, DATABASE_PREPARED_READS off) Django's own cursor."""
    from django.conf import settings

    if connection.vendor != "postgresql" or not settings.DATABASE_PREPARED_READS:
        return connection.cursor()
    from psycopg import Cursor

    connection.validate_thread_sharing()
    connection.ensure_connection()
    raw = connection.connection
    # Django's own cursors bind on the client and are never prepared, whatever this says.
    if raw.prepare_threshold != 0:
        raw.prepare_threshold = 0
    cursor = Cursor(raw)
    return connection.make_debug_cursor(cursor) if connection.queries_logged else connection.make_cursor(cursor)


def _shape(limit: int | None, binds: dict) -> tuple:
    """What a compiled read depends on besides its binds' values: the limit, and which binds are None."""
    return (limit, *(name for name, value in binds.items() if value is None))


class _Compiled:
    def __init__(self, qs, compiler, sql, slots, reusable: bool):
        self.compiler, self.sql, self.slots, self.reusable = compiler, sql, slots, reusable
        self.converters = compiler.get_converters([select[0] for select in compiler.select[: compiler.col_count]])
        query = qs.query
        # As Django's ValuesIterable names a row's columns: in the order values() was given them, when it kept one.
        self.names = (
            list(query.selected)
            if query.selected
            else [*query.extra_select, *query.values_select, *query.annotation_select]
        )
        self.model = qs.model
        self.model_names = [f.attname for f in qs.model._meta.concrete_fields]
        self.related_names = [name.split("__", 1)[1] for name in self.names[len(self.model_names) :]]

    def params(self, binds: dict) -> list:
        # A bind goes where its value went, in the type Django gave it there (psycopg's Int4 for an integer).
        return [
            value if name is None else (cast(binds[name]) if cast else binds[name]) for name, value, cast in self.slots
        ]


def _compile(qs, binds: dict) -> _Compiled:
    """The SQL of `qs`, each of its parameters either a bind's name or a constant; and whether that holds."""
    compiler = qs.query.get_compiler(qs.db)
    sql, params = compiler.as_sql()
    slots, reusable, used = [], True, set()
    for value in params:
        # Django may wrap a value for the database (an integer as psycopg's Int4, a subclass of int).
        names = [n for n, v in binds.items() if v is not None and isinstance(value, type(v)) and v == value]
        reusable &= len(names) <= 1
        if len(names) == 1:
            slots.append((names[0], None, None if type(value) is type(binds[names[0]]) else type(value)))
        else:
            slots.append((None, value, None))
        used.update(names)
    reusable &= used == {name for name, value in binds.items() if value is not None}
    # A bind that fills two parameters may have matched a constant equal to it by chance: not kept.
    reusable &= len(used) == sum(1 for name, _, _ in slots if name is not None)
    return _Compiled(qs, compiler, sql, slots, reusable)
