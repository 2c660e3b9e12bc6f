"""Address-word search over the registry with the databases' own text indexes (issue 13).

The contract (unchanged from the LIKE scan it replaces): an elevator matches when *every* word
of the query occurs, as a substring, in its address or its building (``LIKE '%word%'``, so ASCII
letters match either case on SQLite and exactly on PostgreSQL); the answer is sorted by address
then id. What changed is how the candidates are found, because a LIKE scan of 500,000 rows costs
150–260 ms per keystroke:

* **SQLite**: the contentless FTS5 table ``elevator_search`` (trigram tokenizer) holds
  ``address␟building␟`` per elevator; a word of three or more characters is a phrase query (a
  trigram phrase is a substring test). A word of one or two characters has no trigram of its own,
  so it is expanded through ``elevator_search_gram`` (every trigram that occurs in some text) into
  the trigrams that contain it: ``小店`` becomes ``"市小店" OR "小店区"``. That is exact: a
  short word occurs in a text of three or more characters only inside one of its trigrams, and
  the ``␟`` separators make every non-empty text that long. A short word found in no trigram
  matches nothing; one found in more than :data:`MAX_GRAMS` trigrams (a lone common character)
  is not worth an OR that wide and is only checked by the LIKE filter. When no word is left for
  the index, the query falls back to a LIKE scan in id order that stops after the cap below.
* **PostgreSQL**: ``pg_trgm`` GIN indexes on ``address`` and ``building`` serve ``LIKE '%w%'``
  for words of three or more characters directly (see ``EXPLAIN`` in the tests). Words shorter
  than that cannot use a trigram index and are applied as a filter on the rows the other words
  found; a query of short words only is a filtered scan in id order that stops after the cap:
  quick for a common word (a district name reaches the cap within a few thousand rows), a full
  scan for a rare one (a county name alone: hundreds of milliseconds at 500,000 elevators). The
  SQLite trigram set would cure that, but kept by a trigger it cost ~0.6 ms per written row on
  PostgreSQL (measured with 20,000 inserts), which the importer cannot afford. The patterns are
  sent as quoted literals, not bound parameters: psycopg prepares a statement after five runs
  and PostgreSQL then falls back to a generic plan that cannot see the pattern, walking the
  primary key through every row; two-word lookups took 0.5–1.3 s at 500,000 elevators that way
  (p50 457 ms) and 5–12 ms with their own plan (``docs/benchmarks.md``, issue 13 follow-up).

Both backends apply the original LIKE conditions to the candidates, so the index only has to be
a superset and the result is exactly the old predicate. **The cap**: the candidates are taken in
id order and at most :data:`SCAN_CAP` + 1 matches are sorted by address. A query matching at most
:data:`SCAN_CAP` elevators therefore answers exactly what the old query answered; a broader one
(``太原市``, one district name) answers the first matches by address *among the first
:data:`SCAN_CAP` + 1 in registry order*, because sorting 100,000 matches by address is itself the
cost we are removing, and an operator keeps typing at that point anyway.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    and_,
    bindparam,
    column,
    literal_column,
    or_,
    select,
    table,
    text,
)
from sqlalchemy.orm import Session

from dispatch.models import Elevator

#: Matches sorted by address at most (see the module docstring).
SCAN_CAP = 1_000
#: A short word contained in more trigrams than this is left to the LIKE filter (SQLite).
MAX_GRAMS = 64
#: Words beyond this many are ignored (as before).
MAX_WORDS = 6

#: The contentless FTS5 table of migration 0006 (SQLite only; not in the metadata).
_FTS = table("elevator_search", column("rowid"))

#: Trigrams containing a word of one or two characters, found by where the word sits in them
#: (index ranges on the gram and on its generated columns at2/at3, the gram from its second or
#: third character; grams are stored ASCII-lowercased
#: like ``LIKE`` compares, and U+10FFFF sorts after every other character).
_GRAMS_CONTAINING = {
    2: text("SELECT gram FROM elevator_search_gram WHERE gram >= lower(:w) "
            "AND gram < lower(:w) || char(1114111) "
            "UNION SELECT gram FROM elevator_search_gram WHERE at2 = lower(:w) "
            "LIMIT :n"),
    1: text("SELECT gram FROM elevator_search_gram WHERE gram >= lower(:w) "
            "AND gram < lower(:w) || char(1114111) "
            "UNION SELECT gram FROM elevator_search_gram WHERE at2 >= lower(:w) "
            "AND at2 < lower(:w) || char(1114111) "
            "UNION SELECT gram FROM elevator_search_gram WHERE at3 = lower(:w) "
            "LIMIT :n"),
}

_SPLIT = re.compile(r"[\s,，]+")


def split_words(query: str) -> list[str]:
    """The words of a query: split on whitespace and (full-width) commas, at most six."""
    return [w for w in _SPLIT.split(query.strip()) if w][:MAX_WORDS]


def _escape_like(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _word_matches(word: str, columns: Sequence[str] = ("address", "building"), *,
                  inline: bool = False) -> ColumnElement[bool]:
    """``LIKE '%word%'`` on each column; ``inline`` puts the pattern in the SQL text as a quoted
    literal (PostgreSQL, see :func:`_candidates`) instead of a bound parameter."""
    pattern: Any = f"%{_escape_like(word)}%"
    if inline:
        pattern = bindparam(None, pattern, type_=String(), literal_execute=True)
    return or_(*[getattr(Elevator, c).like(pattern, escape="\\") for c in columns])


def like_lookup_ids(session: Session, words: Sequence[str], *, limit: int,
                    columns: Sequence[str] = ("address", "building")) -> list[int]:
    """The reference: the plain LIKE scan over the whole table, sorted by address.

    Kept as the baseline of ``bench/lookup.py`` (with ``columns=("address",)`` it is exactly the
    query before issue 13) and as the oracle the tests compare the indexed search with.
    """
    stmt = (select(Elevator.id).where(and_(*[_word_matches(w, columns) for w in words]))
            .order_by(Elevator.address, Elevator.id).limit(limit))
    return list(session.scalars(stmt))


def _fts_phrase(text_: str) -> str:
    return '"' + text_.replace('"', '""') + '"'


def _sqlite_match_expression(session: Session, words: Sequence[str]) -> str | None:
    """FTS5 query for ``words``; ``""`` when some word occurs nowhere; None when none indexes."""
    parts: list[str] = []
    for word in words:
        if len(word) >= 3:
            parts.append(_fts_phrase(word))
            continue
        grams = list(session.scalars(_GRAMS_CONTAINING[len(word)],
                                     {"w": word, "n": MAX_GRAMS + 1}))
        if not grams:
            return ""
        if len(grams) <= MAX_GRAMS:
            parts.append("(" + " OR ".join(_fts_phrase(g) for g in grams) + ")")
    return " AND ".join(parts) if parts else None


def _candidates(session: Session, words: Sequence[str]) -> Select[int] | None:
    """Up to ``SCAN_CAP + 1`` ids matching every word, in id order; None when none can match."""
    cap = SCAN_CAP + 1
    if session.get_bind().dialect.name != "sqlite":
        # The patterns go into the statement as literals: with bound parameters psycopg prepares
        # a statement it has run five times and PostgreSQL soon switches it to a generic plan,
        # which cannot see the pattern, so it walks the primary key filtering every row (0.5-1 s
        # at 500,000 lifts) even when one word's trigrams would find a few hundred rows at once.
        inlined = and_(*[_word_matches(w, inline=True) for w in words])
        return select(Elevator.id).where(inlined).order_by(Elevator.id).limit(cap)
    likes = and_(*[_word_matches(w) for w in words])
    expr = _sqlite_match_expression(session, words)
    if expr == "":
        return None
    if expr is not None:
        # FTS5 drives (it yields rowids in order and stops at the LIMIT); each candidate
        # is then checked with the original LIKE conditions.
        return (select(Elevator.id).select_from(_FTS)
                .join(Elevator, Elevator.id == _FTS.c.rowid)
                .where(literal_column("elevator_search").op("MATCH")(expr), likes)
                .order_by(_FTS.c.rowid).limit(cap))
    return select(Elevator.id).where(likes).order_by(Elevator.id).limit(cap)


def search_ids(session: Session, words: Sequence[str], *, limit: int) -> list[int]:
    """Ids of up to ``limit`` elevators whose address or building contains every word.

    Sorted by address then id in the database (its collation, as before), in one statement.
    """
    candidates = _candidates(session, words) if words else None
    if candidates is None:
        return []
    stmt = (select(Elevator.id).where(Elevator.id.in_(candidates))
            .order_by(Elevator.address, Elevator.id).limit(limit))
    return list(session.scalars(stmt))
