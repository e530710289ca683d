"""The gradebook shared by several graders: nbgrader takes any SQLAlchemy URL.

With PostgreSQL (``postgresql+psycopg2://user@host/db``; the ``cluster`` extra
installs the driver) several teaching assistants grade into one gradebook at once,
and the formgrader reads it. Each submission's rows belong to one student, so
graders that split the class never write the same rows. The one step they share is
setting the assignment up (``generate_assignment``: the tables of a fresh database,
the assignment's notebooks and cells), which :func:`gradebook_lock` lets one grader
do at a time. Once one grader has set a version of the assignment up, the others
must not do it again: nbgrader's ``generate_assignment`` drops and re-creates the
cells of a notebook that has no submission yet, under another grader's first
autograde. So a shared gradebook records which version it holds
(:func:`prepared_key`), and a grader that finds the same version there writes only
its own release. A SQLite gradebook is one machine's file: none of this applies.
"""

from __future__ import annotations

from contextlib import contextmanager

LOCK_KEY = 0x636E6E5F636F  # pg_advisory_lock's key: "cnn_co", any fixed number does
TABLE = "cnn_course_prepared"  # assignment -> the version the gradebook holds


def backend(db_url: str) -> str:
    """``"postgresql"``, ``"sqlite"``, ... of a SQLAlchemy URL."""
    from sqlalchemy.engine import make_url

    return make_url(db_url).get_backend_name()


def shared(db_url: str) -> bool:
    """A gradebook server that several graders may use at once (not a SQLite file)."""
    return backend(db_url) != "sqlite"


def _engine(db_url: str):
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    return create_engine(db_url, poolclass=NullPool)


def create_tables(db_url: str) -> bool:
    """Give a database that has no tables yet nbgrader's, stamped with its newest migration.

    This is what nbgrader's ``Gradebook`` does with an empty database, less its way of
    finding the newest migration: a subprocess running the ``alembic heads`` command
    (2.3 s of CPU, 4 s of wall time on a busy machine, on every fresh workspace).
    alembic's own ``ScriptDirectory`` reads the same migration scripts in-process
    (0.07 s). A database that holds any table is left alone, so nbgrader's migrations
    still apply to old gradebooks. Returns whether it created the tables.
    """
    from pathlib import Path

    from alembic.script import ScriptDirectory
    from nbgrader.api import Base
    from nbgrader.dbutil import ALEMBIC_DIR
    from sqlalchemy import inspect, text
    from sqlalchemy.engine import make_url

    url = make_url(db_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = _engine(db_url)
    try:
        with engine.begin() as conn:
            if inspect(conn).get_table_names():
                return False
            Base.metadata.create_all(bind=conn)
            conn.execute(text("CREATE TABLE alembic_version "
                              "(version_num VARCHAR(32) NOT NULL)"))
            conn.execute(text("INSERT INTO alembic_version (version_num) VALUES (:v)"),
                         {"v": ScriptDirectory(ALEMBIC_DIR).get_current_head()})
        return True
    finally:
        engine.dispose()


def prepared_key(db_url: str, assignment: str) -> str | None:
    """The version of ``assignment`` that a grader set up in this gradebook, if any."""
    from sqlalchemy import text

    engine = _engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(text(f"CREATE TABLE IF NOT EXISTS {TABLE} (assignment "
                              "VARCHAR(128) PRIMARY KEY, version VARCHAR(128) NOT NULL)"))
            return conn.execute(text(f"SELECT version FROM {TABLE} WHERE assignment = :a"),
                                {"a": assignment}).scalar()
    finally:
        engine.dispose()


def set_prepared_key(db_url: str, assignment: str, version: str) -> None:
    """Record that the gradebook now holds ``version`` of ``assignment``."""
    from sqlalchemy import text

    prepared_key(db_url, assignment)  # the table exists
    engine = _engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(text(f"DELETE FROM {TABLE} WHERE assignment = :a"),
                         {"a": assignment})
            conn.execute(text(f"INSERT INTO {TABLE} (assignment, version) VALUES (:a, :v)"),
                         {"a": assignment, "v": version})
    finally:
        engine.dispose()


@contextmanager
def gradebook_lock(db_url: str):
    """Hold a lock on the gradebook server for the duration (PostgreSQL); else nothing."""
    if backend(db_url) != "postgresql":
        yield
        return
    from sqlalchemy import text

    engine = _engine(db_url)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": LOCK_KEY})
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_KEY})
    finally:
        engine.dispose()
