"""elevator search at province scale (issue 13): FTS5 trigram on SQLite, pg_trgm on building

SQLite: a contentless FTS5 table ``elevator_search`` (trigram tokenizer) over one text per
elevator, ``address || char(31) || building || char(31)``, and ``elevator_search_gram``, the
set of every trigram (ASCII-lowercased, as ``LIKE`` compares) that occurs in those texts (so
words of one or two characters, which the trigram index cannot look up, can be expanded into the
trigrams that contain them). Both are kept
in step by triggers on ``elevator``, so the importer, admin edits and the fixture loader need
no code of their own. Neither is in the SQLAlchemy metadata: they are SQLite search machinery,
ignored by ``alembic check`` like any reflected table the models do not name.

PostgreSQL: a GIN trigram index on ``building`` next to the one on ``address``, and an index on
``incident(caller_phone, received_at)`` for the lookup by the caller's number (both backends).

Revision ID: 0006_search
Revises: 0005
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006_search"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _body(row: str) -> str:
    """The indexed text of one elevator row (``NEW`` or ``OLD``); char(31) separates fields."""
    return (f"coalesce({row}.address, '') || char(31) || coalesce({row}.building, '') "
            "|| char(31)")


def _positions(body: str) -> str:
    """``json_each`` over one row per trigram start of ``body`` (triggers allow no CTE).

    ``hex(zeroblob(n))`` is ``n`` times ``00``; turned into the JSON array ``[0,0,…]`` it gives
    rows with keys 0..n-1 without a helper table of numbers.
    """
    n = f"max(length({body}) - 2, 0)"
    return f"json_each('[' || rtrim(replace(hex(zeroblob({n})), '00', '0,'), ',') || ']') AS j"


def _grams_of(row: str) -> str:
    """SELECT of every trigram of one row's text (for INSERT OR IGNORE into the gram set)."""
    return f"SELECT lower(substr({_body(row)}, j.key + 1, 3)) FROM {_positions(_body(row))}"


_SQLITE_UP = [
    "CREATE VIRTUAL TABLE elevator_search USING fts5(body, content='', tokenize='trigram')",
    # at2/at3: the gram from its second/third character, so that a short word is found by
    # where it sits in a trigram with index range scans instead of a LIKE over every gram
    "CREATE TABLE elevator_search_gram (gram TEXT PRIMARY KEY, "
    "at2 TEXT GENERATED ALWAYS AS (substr(gram, 2)) VIRTUAL, "
    "at3 TEXT GENERATED ALWAYS AS (substr(gram, 3)) VIRTUAL) WITHOUT ROWID",
    f"""CREATE TRIGGER elevator_search_ai AFTER INSERT ON elevator BEGIN
        INSERT INTO elevator_search(rowid, body) VALUES (NEW.id, {_body('NEW')});
        INSERT OR IGNORE INTO elevator_search_gram(gram) {_grams_of('NEW')};
    END""",
    f"""CREATE TRIGGER elevator_search_ad AFTER DELETE ON elevator BEGIN
        INSERT INTO elevator_search(elevator_search, rowid, body)
            VALUES ('delete', OLD.id, {_body('OLD')});
    END""",
    f"""CREATE TRIGGER elevator_search_au AFTER UPDATE OF id, address, building ON elevator
    BEGIN
        INSERT INTO elevator_search(elevator_search, rowid, body)
            VALUES ('delete', OLD.id, {_body('OLD')});
        INSERT INTO elevator_search(rowid, body) VALUES (NEW.id, {_body('NEW')});
        INSERT OR IGNORE INTO elevator_search_gram(gram) {_grams_of('NEW')};
    END""",
    # the rows already there, in one pass each; the triggers take over from here
    f"INSERT INTO elevator_search(rowid, body) SELECT e.id, {_body('e')} FROM elevator AS e",
    f"INSERT OR IGNORE INTO elevator_search_gram(gram) "
    f"SELECT lower(substr({_body('e')}, j.key + 1, 3)) "
    f"FROM elevator AS e, {_positions(_body('e'))}",
    "CREATE INDEX elevator_search_gram_at2 ON elevator_search_gram(at2)",
    "CREATE INDEX elevator_search_gram_at3 ON elevator_search_gram(at3)",
]

_SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS elevator_search_au",
    "DROP TRIGGER IF EXISTS elevator_search_ad",
    "DROP TRIGGER IF EXISTS elevator_search_ai",
    "DROP TABLE IF EXISTS elevator_search_gram",
    "DROP TABLE IF EXISTS elevator_search",
]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for stmt in _SQLITE_UP:
            op.execute(stmt)
    elif dialect == "postgresql":
        op.create_index("ix_elevator_building_trgm", "elevator", ["building"],
                        postgresql_using="gin", postgresql_ops={"building": "gin_trgm_ops"})
    op.create_index("ix_incident_caller_phone_received", "incident",
                    ["caller_phone", "received_at"])


def downgrade() -> None:
    op.drop_index("ix_incident_caller_phone_received", table_name="incident")
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for stmt in _SQLITE_DOWN:
            op.execute(stmt)
    elif dialect == "postgresql":
        op.drop_index("ix_elevator_building_trgm", table_name="elevator")
