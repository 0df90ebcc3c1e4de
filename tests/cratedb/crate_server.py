#!/usr/bin/python3
"""crate_server.py - a stand-in for CrateDB's HTTP endpoint, for sluice's tests.

It implements POST /_sql the way CrateDB's reference documents it ("HTTP
endpoint") and executes the statements on a PostgreSQL database through
psycopg2.  It is not CrateDB: it answers in CrateDB's shapes and emulates the
CrateDB behaviours a sink must handle, so that sluice's HTTP transport can be
tested here; run the opt-in suite against a real CrateDB for the rest.

    crate_server.py --dsn DSN [--port N] [--user U --password P]

prints SLUICE_TEST_CRATEDB_URL=http://127.0.0.1:PORT once it listens.

Behaviour and where it comes from (CrateDB reference, "HTTP endpoint" unless
said otherwise):
- Request body {"stmt": ..., "args": [...]} or {"stmt": ..., "bulk_args":
  [[...], ...]}; placeholders $1, $2 ... or ?  ("Parameter substitution").
  Both args and bulk_args at once is an error.
- The Default-Schema header sets the schema of unqualified names; "doc" when
  absent ("Default schema").
- Answer {"cols", "rows", "rowcount", "duration"}; rowcount -1 when not
  ascertainable.
- Bulk answer {"cols": [], "duration", "results": [{"rowcount": n}, ...]},
  one per argument set, in order; every argument set is executed even when
  one fails, a failed one has rowcount -2 ("Bulk operations", "Bulk errors"),
  with an "error" object {"code", "message"} as recent versions send it.
  Only INSERT, UPDATE and DELETE may be bulk statements.
- Errors: {"error": {"message", "code"}} with a 4xx/5xx status and the codes
  of "Error handling" (4000 syntax/unsupported, 4003 field type validation,
  4041 unknown relation, 4043 unknown column, 4045 unknown schema, 4091
  duplicate primary key, 5000 unhandled).
- No transactions: BEGIN and COMMIT are accepted and ignored, ROLLBACK is
  an error ("PostgreSQL wire protocol" / transactions; "SQL compatibility").
  Each statement (each bulk argument set) commits on its own.
- INSERT ... ON CONFLICT DO UPDATE SET may not assign primary-key columns
  and takes no WHERE clause ("INSERT", ON CONFLICT DO UPDATE SET).
- REFRESH TABLE t is accepted (CrateDB makes writes visible to scans with
  it; "Refresh"); writes here are visible at once.
- Argument types: CrateDB converts JSON arguments to the column's type; epoch
  milliseconds into TIMESTAMP columns and objects into OBJECT columns are
  emulated for INSERT column lists ("Data types": timestamp, object).
- Types PostgreSQL lacks are domains named after the CrateDB type (e.g.
  CREATE DOMAIN geo_point AS double precision[]); information_schema reports
  them in domain_name.
- DDL in CrateDB's dialect, as sluice's auto_create / auto_evolve write it
  (CREATE TABLE, ALTER TABLE ... ADD COLUMN), is translated to PostgreSQL's
  before it runs ("Data types"): OBJECT, OBJECT(DYNAMIC | STRICT | IGNORED)
  ("Objects", column policy) becomes jsonb, GEO_POINT the domain
  public.geo_point (double precision[]), which hold the same JSON
  objects (but, unlike OBJECT, also arrays and scalars: the stand-in cannot
  tell that CrateDB would refuse those); ARRAY(T) ("Arrays", ARRAY(data_type)
  or data_type[]) becomes T[].  OBJECT ... AS (sub-columns) ("Objects")
  keeps the object whole and drops the declaration; FLOAT_VECTOR(n) ("Data
  types") becomes the domain public.float_vector (real[]); a column's INDEX
  USING FULLTEXT [WITH (analyzer = ...)] or INDEX OFF ("Fulltext indices")
  is dropped, since it changes searching, not the stored value; BIT(n) is
  spelled alike and answered as B'0101' ("Data types", BIT(n)).
  TIMESTAMP WITH / WITHOUT TIME ZONE ("Dates and times"), TEXT, BOOLEAN,
  INTEGER, BIGINT, REAL and DOUBLE PRECISION are spelled alike in both and
  pass unchanged.  So information_schema reports jsonb where CrateDB would
  say object, which sluice treats alike.  After any DDL the column types
  remembered for argument conversion are read again.
- Basic authentication when --user is given: 401 otherwise.
- Table designs ("CREATE TABLE", "Partitioned tables", "Sharding",
  "Generated columns"): CLUSTERED [BY (c)] INTO n SHARDS, PARTITIONED BY
  (c, ...) and WITH (...) are remembered per table and dropped from the
  PostgreSQL DDL; c GENERATED ALWAYS AS expr becomes a stored generated
  column (date_trunc on a timestamp with time zone computed in UTC, as
  CrateDB does).  information_schema.tables answers clustered_by and
  partitioned_by for them (reference: "Information schema", tables).
  Primary-key, CLUSTERED BY and PARTITIONED BY columns in an ON CONFLICT
  DO UPDATE SET list fail the statement with CrateDB's message (real
  server: "Updating a primary key / clustered-by column / partitioned-by
  column is not supported").
- Seen on a real CrateDB 6.4.1 and reproduced here: a duplicate key inside
  one bulk INSERT fails only that argument set (rowcount -2, code 4091); a
  value that cannot be cast to its column fails the whole request (HTTP
  400, code 4000 "Cannot cast value ..."), because CrateDB binds every
  argument set before it writes; only the first 10 failed rows of a shard
  request carry an error object, the rest are -2 alone (CrateDB's
  ShardResponse keeps BULK_RESPONSE_MAX_ERRORS_PER_SHARD = 10 errors; the
  stand-in has one shard per request).
- Visibility ("Refresh"): a row written since the table's last refresh
  (REFRESH TABLE, or every refresh_interval, 1000 ms by default) is not
  returned by SELECT, and a DELETE that does not name the whole primary key
  (a query, not a lookup by key) does not see it either.  A DELETE whose
  equalities give every key column, a generated one through the columns of
  its expression, is a lookup by key and sees every write (CrateDB derives
  generated key and partition columns from such equalities: "Generated
  columns").  Rows deleted or updated since the refresh are not emulated:
  SELECT shows their current state.

Fault injection, for the tests (POST /_test/faults with a JSON object; each
key is optional, "reset": true clears everything first):
- "status": 503 (or 429, ...), "status_count": N - the next N /_sql requests
  are answered with that status and an error body.
- "fail_value": V, "fail_code": 4003, "fail_message": "...", "fail_count": N
  - a bulk argument set holding the string or number V fails with rowcount -2
  and that error, N times (-1: always).
- "huge_mb": N, "huge_count": C - the next C /_sql requests are answered
  with 200 and N MiB of whitespace before an empty JSON object.
- "old_version": true - like CrateDB before per-row error objects: -2 comes
  without "error", and a failed single-row bulk is answered as a top-level
  error with a status.
- "doc_missing": [V, ...] - the state a real CrateDB 6.4.1 showed under
  sluice's HTTP bulk upserts: INSERT ... ON CONFLICT DO UPDATE of an
  argument set holding V finds the key taken and then no document to update,
  and fails with rowcount -2 and code 40411 "DocumentMissingException[[V]:
  document missing]" (CrateDB's TransportShardUpsertAction: the insert's
  version conflict falls back to an update, whose lookup finds nothing),
  every time, until a DELETE whose arguments hold V removes what is left
  under the key.
- "refresh_interval_ms": N - rows become visible N ms after their write
  (default 1000, CrateDB's default refresh_interval); 0: at once.
GET /_test/stats returns counters and every distinct statement seen.

The PostgreSQL wire protocol (--pg-port; prints SLUICE_TEST_CRATEDB_DSN=...
as a second line): a proxy in front of the same PostgreSQL that answers as
CrateDB 6.4.1 was seen to over pgwire ("PostgreSQL wire protocol"):
server_version is 14.0 (startup ParameterStatus and SHOW server_version);
COPY ... FROM STDIN is not supported (SQLSTATE 0A000, "COPY FROM STDIN is not
supported"); ROLLBACK is a syntax error (42601); REFRESH TABLE is accepted;
a duplicate key is SQLSTATE 23505, as PostgreSQL says it.  CREATE TABLE in
CrateDB's dialect is translated as over HTTP.  It does not send
crate_version: a client then takes it for PostgreSQL and sends geo points as
arrays, which the domain geo_point holds.
"""

import argparse
import base64
import datetime
import decimal
import json
import re
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg2
import psycopg2.extensions
import psycopg2.extras

# SQLSTATE -> CrateDB error code and HTTP status
SQLSTATE_CODES = {
    "42P01": (4041, 404),  # undefined table -> unknown relation
    "3F000": (4045, 404),  # invalid schema -> unknown schema
    "42703": (4043, 404),  # undefined column -> unknown column
    "42601": (4000, 400),  # syntax error
    "42704": (4044, 404),  # undefined object (type)
    "42P07": (4093, 409),  # duplicate table -> relation exists
    "42701": (4093, 409),  # duplicate column
    "23505": (4091, 409),  # unique violation -> duplicate primary key
    "23502": (4003, 400),  # not null violation -> field validation
}


def crate_code(exc):
    state = getattr(exc, "pgcode", None) or ""
    if state in SQLSTATE_CODES:
        return SQLSTATE_CODES[state]
    if state.startswith("22"):
        return 4003, 400  # data exception -> field type validation failed
    if state.startswith("42"):
        return 4000, 400
    return 5000, 500


class CrateError(Exception):
    def __init__(self, code, status, message):
        super().__init__(message)
        self.code, self.status, self.message = code, status, message


class State:
    """Faults and counters shared by the request threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.status = None
        self.status_count = 0
        self.fail_value = None
        self.fail_code = 4003
        self.fail_message = "injected failure"
        self.fail_count = 0
        self.old_version = False
        self.huge_mb = 0
        self.huge_count = 0
        self.refresh_interval_ms = 1000
        self.doc_missing = []
        self.stats = {"requests": 0, "bulk_requests": 0, "bulk_rows": 0, "failed_rows": 0,
                      "refused": 0, "rollbacks": 0, "statements": []}


STATE = State()
ARGS = None
LOCAL = threading.local()
COLTYPES = {}  # (schema, table) -> {column: (data_type, udt, domain)}
COLTYPES_LOCK = threading.Lock()
ROUTING = {}  # (schema, table) -> {"clustered_by": col or None, "partitioned_by": [cols] or None}
UNREFRESHED = {}  # (schema, table) -> {key tuple: monotonic time of its first write since the refresh}
VIS_LOCK = threading.Lock()
MAX_ERRORS_PER_REQUEST = 10  # CrateDB: BULK_RESPONSE_MAX_ERRORS_PER_SHARD


def conn():
    c = getattr(LOCAL, "conn", None)
    if c is None or c.closed:
        c = psycopg2.connect(ARGS.dsn)
        c.autocommit = True
        with c.cursor() as cur:
            cur.execute("SET TIME ZONE 'UTC'")
        LOCAL.conn = c
        LOCAL.schema = None
    return c


def set_schema(schema):
    c = conn()
    if LOCAL.schema != schema:
        with c.cursor() as cur:
            cur.execute("SELECT set_config('search_path', %s, false)", ('"%s"' % schema.replace('"', '""'),))
        LOCAL.schema = schema
    return c


def quoted_end(stmt, i):
    """Index of the quote closing the literal or identifier that opens at
    stmt[i] (a doubled quote inside stands for itself); len(stmt) if none."""
    ch, j, n = stmt[i], i + 1, len(stmt)
    while j < n:
        if stmt[j] == ch:
            if j + 1 < n and stmt[j + 1] == ch:
                j += 2
                continue
            break
        j += 1
    return j


def split_sql(stmt):
    """Rewrite $n / ? placeholders into psycopg2's %(pN)s, outside quotes."""
    out, i, n, qmarks = [], 0, len(stmt), 0
    while i < n:
        ch = stmt[i]
        if ch in "'\"":
            j = quoted_end(stmt, i)
            out.append(stmt[i:j + 1].replace("%", "%%"))
            i = j + 1
        elif ch == "$" and i + 1 < n and stmt[i + 1].isdigit():
            j = i + 1
            while j < n and stmt[j].isdigit():
                j += 1
            out.append("%%(p%d)s" % int(stmt[i + 1:j]))
            i = j
        elif ch == "?":
            qmarks += 1
            out.append("%%(p%d)s" % qmarks)
            i += 1
        elif ch == "%":
            out.append("%%")
            i += 1
        else:
            out.append(ch)
            i += 1
    return "".join(out)


IDENT = r'(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_]*)'
INSERT_RE = re.compile(r'^\s*INSERT\s+INTO\s+(%s(?:\s*\.\s*%s)?)\s*\(([^)]*)\)\s*VALUES\s*\(([^)]*)\)(.*)$'
                       % (IDENT, IDENT), re.I | re.S)
DELETE_RE = re.compile(r'^\s*DELETE\s+FROM\s+(%s(?:\s*\.\s*%s)?)\s+WHERE\s+(.*)$' % (IDENT, IDENT), re.I | re.S)
SET_RE = re.compile(r'ON\s+CONFLICT\s*\(([^)]*)\)\s*DO\s+UPDATE\s+SET\s+(.*)$', re.I | re.S)


def unquote(name):
    name = name.strip()
    if name.startswith('"'):
        return name[1:-1].replace('""', '"')
    return name.lower()


def split_idents(text):
    return [unquote(m.group(0)) for m in re.finditer(IDENT, text)]


OBJECT_RE = re.compile(r'\bOBJECT\b(?:\s*\(\s*(?:DYNAMIC|STRICT|IGNORED)\s*\))?', re.I)
GEO_RE = re.compile(r'\bGEO_POINT\b', re.I)
# "Data types", FLOAT_VECTOR(n): a fixed-length array of floats, answered as
# a JSON array; here the domain public.float_vector (real[]).
VECTOR_RE = re.compile(r'\bFLOAT_VECTOR\s*\(\s*\d+\s*\)', re.I)
# "Fulltext indices" / "Fulltext analyzers": INDEX USING FULLTEXT [WITH
# (analyzer = '...')] on a TEXT column changes how MATCH searches it, not the
# value stored or answered; INDEX OFF likewise.  Dropped here.
FULLTEXT_RE = re.compile(r"""\bINDEX\s+(?:USING\s+FULLTEXT(?:\s+WITH\s*\((?:[^()'"]|'[^']*')*\))?|OFF\b)""", re.I)
# "Objects": OBJECT [(policy)] AS (sub-column definitions) declares typed
# sub-columns; the value is still one object.  The stand-in keeps the object
# whole (jsonb) and drops the declaration.
OBJECT_AS_RE = re.compile(r'\bOBJECT\b(?:\s*\(\s*(?:DYNAMIC|STRICT|IGNORED)\s*\))?\s+AS\s*\(', re.I)
# BIT(n) ("Data types", BIT(n)) is spelled alike in PostgreSQL and passes
# unchanged; CrateDB answers its values as B'0101' (see jsonable_col()).
BIT_OID = 1560


def drop_object_as(text):
    """OBJECT ... AS ( ... ) -> OBJECT ...: the balanced parenthesis after AS goes."""
    while True:
        m = OBJECT_AS_RE.search(text)
        if not m:
            return text
        depth, k = 1, m.end()
        while k < len(text) and depth:
            depth += {"(": 1, ")": -1}.get(text[k], 0)
            k += 1
        head = text[m.start():m.end()]
        head = head[:re.search(r'\s+AS\s*\($', head, re.I).start()]
        text = text[:m.start()] + head + text[k:]
ARRAY_RE = re.compile(r'\bARRAY\s*\(\s*([^()]+?)\s*\)', re.I)


def crate_ddl_to_pg(stmt):
    """CrateDB's OBJECT(...) and ARRAY(T) type names as PostgreSQL's jsonb
    and T[], outside quoted identifiers and string literals (a column may be
    called "object")."""
    stmt = FULLTEXT_RE.sub("", stmt)  # its WITH (analyzer = '...') holds a literal
    out, i, n = [], 0, len(stmt)
    while i < n:
        ch = stmt[i]
        j = i
        if ch in "'\"":
            j = quoted_end(stmt, i)
            out.append(stmt[i:j + 1])
            i = j + 1
            continue
        while j < n and stmt[j] not in "'\"":
            j += 1
        text = drop_object_as(stmt[i:j])
        text = OBJECT_RE.sub("jsonb", text)
        text = GEO_RE.sub("public.geo_point", text)
        text = VECTOR_RE.sub("public.float_vector", text)
        while True:  # innermost first: ARRAY(ARRAY(TEXT)) -> text[][]
            text, k = ARRAY_RE.subn(lambda m: m.group(1) + "[]", text)
            if not k:
                break
        out.append(text)
        i = j
    return "".join(out)


CLUSTERED_RE = re.compile(r'\bCLUSTERED\s+(?:BY\s*\(\s*(%s)\s*\)\s*)?(?:INTO\s+\d+\s+SHARDS)?' % IDENT, re.I)
PARTITIONED_RE = re.compile(r'\bPARTITIONED\s+BY\s*\(([^)]*)\)', re.I)
WITH_RE = re.compile(r'\bWITH\s*\([^)]*\)\s*$', re.I)
CREATE_RE = re.compile(r'^\s*CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(%s(?:\s*\.\s*%s)?)' % (IDENT, IDENT), re.I)
GENERATED_RE = re.compile(r'\bGENERATED\s+ALWAYS\s+AS\s+', re.I)


def generated_to_pg(text):
    """c ... GENERATED ALWAYS AS expr -> GENERATED ALWAYS AS (expr) STORED:
    expr runs to the comma or parenthesis that closes its column definition;
    date_trunc(...) on a timestamp with time zone as the IMMUTABLE
    crate_date_trunc (CrateDB truncates in UTC; PostgreSQL's date_trunc
    depends on the session's time zone and cannot be a generated column)."""
    out, pos = [], 0
    for m in GENERATED_RE.finditer(text):
        if m.start() < pos:
            continue
        out.append(text[pos:m.end()])
        i, depth = m.end(), 0
        while i < len(text):
            ch = text[i]
            if ch in "'\"":
                i = quoted_end(text, i) + 1
                continue
            if ch == "(":
                depth += 1
            elif ch == ")":
                if depth == 0:
                    break
                depth -= 1
            elif ch == "," and depth == 0:
                break
            i += 1
        expr = re.sub(r'\bdate_trunc\s*\(', 'public.crate_date_trunc(', text[m.end():i].strip(), flags=re.I)
        out.append("(%s) STORED" % expr)
        pos = i
    out.append(text[pos:])
    return "".join(out)


def table_design(stmt, schema):
    """CREATE TABLE in CrateDB's dialect -> (PostgreSQL DDL, routing info)."""
    m = CREATE_RE.match(stmt)
    if not m:
        return stmt, None
    # the clauses after the column list's closing parenthesis
    depth, i, close = 0, 0, -1
    while i < len(stmt):
        ch = stmt[i]
        if ch in "'\"":
            i = quoted_end(stmt, i) + 1
            continue
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                close = i
                break
        i += 1
    if close < 0:
        return stmt, None
    head, tail = stmt[:close + 1], stmt[close + 1:]
    clustered = partitioned = None
    c = CLUSTERED_RE.search(tail)
    if c:
        clustered = unquote(c.group(1)) if c.group(1) else None
        tail = tail[:c.start()] + tail[c.end():]
    p = PARTITIONED_RE.search(tail)
    if p:
        partitioned = split_idents(p.group(1))
        tail = tail[:p.start()] + tail[p.end():]
    tail = WITH_RE.sub("", tail.strip())
    parts = [unquote(x.group(0)) for x in re.finditer(IDENT, m.group(1))]
    key = (parts[0], parts[1]) if len(parts) == 2 else (schema, parts[0])
    return generated_to_pg(head) + " " + tail, (key, {"clustered_by": clustered, "partitioned_by": partitioned})


def ensure_helpers(c):
    """The domains and functions the translated statements use, made once.
    Test servers start side by side on one PostgreSQL, and two sessions
    running CREATE OR REPLACE FUNCTION on one function at once fail with
    'tuple concurrently updated' (PostgreSQL updates the pg_proc row in
    place): a session-level advisory lock puts them one after the other."""
    with c.cursor() as cur:
        cur.execute("SELECT pg_advisory_lock(hashtext('sluice crate_server helpers'))")
        try:
            for name, base in (("geo_point", "double precision[]"), ("float_vector", "real[]")):
                cur.execute("SELECT 1 FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace"
                            " WHERE n.nspname = 'public' AND t.typname = %s", (name,))
                if cur.fetchone() is None:
                    cur.execute("CREATE DOMAIN public.%s AS %s" % (name, base))
            cur.execute("CREATE OR REPLACE FUNCTION public.crate_date_trunc(text, timestamptz) RETURNS timestamptz"
                        " LANGUAGE sql IMMUTABLE AS $$ SELECT date_trunc($1, $2, 'UTC') $$")
            cur.execute("CREATE OR REPLACE FUNCTION public.crate_date_trunc(text, timestamp) RETURNS timestamp"
                        " LANGUAGE sql IMMUTABLE AS $$ SELECT date_trunc($1, $2) $$")
            cur.execute("CREATE OR REPLACE FUNCTION public.crate_unsupported(text) RETURNS int LANGUAGE plpgsql AS"
                        " $$ BEGIN RAISE EXCEPTION '%', $1 USING ERRCODE = 'feature_not_supported'; END $$")
        finally:
            cur.execute("SELECT pg_advisory_unlock(hashtext('sluice crate_server helpers'))")


def routing_of(c, key):
    """clustered_by and partitioned_by of a table: as its CREATE TABLE said,
    else CrateDB's defaults (the primary key's only column, or _id)."""
    with VIS_LOCK:
        known = dict(ROUTING.get(key) or {"clustered_by": None, "partitioned_by": None})
    if known["clustered_by"] is None:
        _, info = table_columns(c, '"%s"."%s"' % (key[0].replace('"', '""'), key[1].replace('"', '""')), key[0])
        pk = info["pk_order"]
        known["clustered_by"] = pk[0] if len(pk) == 1 else "_id"
    return known


def forget_columns():
    with COLTYPES_LOCK:
        COLTYPES.clear()


def table_columns(c, qualified, schema, want=()):
    """Column types and primary key of a table, remembered; read again when
    the statement names a column (@want) that was not there before, as when
    another client added it."""
    parts = [unquote(m.group(0)) for m in re.finditer(IDENT, qualified)]
    sch, tbl = (parts[0], parts[1]) if len(parts) == 2 else (schema, parts[0])
    key = (sch, tbl)
    with COLTYPES_LOCK:
        if key in COLTYPES and all(w in COLTYPES[key]["cols"] for w in want):
            return key, COLTYPES[key]
    with c.cursor() as cur:
        cur.execute("SELECT column_name, data_type, udt_name, domain_name, generation_expression"
                    " FROM information_schema.columns WHERE table_schema = %s AND table_name = %s", key)
        rows = cur.fetchall()
        cols = {r[0]: (r[1], r[2], r[3]) for r in rows}
        generated = {r[0]: r[4] for r in rows if r[4]}
        cur.execute("SELECT k.column_name FROM information_schema.table_constraints t"
                    " JOIN information_schema.key_column_usage k USING (constraint_schema, constraint_name)"
                    " WHERE t.table_schema = %s AND t.table_name = %s AND t.constraint_type = 'PRIMARY KEY'"
                    " ORDER BY k.ordinal_position", key)
        pk_order = [r[0] for r in cur.fetchall()]
    info = {"cols": cols, "pk": set(pk_order), "pk_order": pk_order, "generated": generated}
    with COLTYPES_LOCK:
        COLTYPES[key] = info
    return key, info


def convert(v, coltype):
    """A JSON argument as CrateDB would take it for a column of @coltype."""
    dt, udt, dom = coltype if coltype else (None, None, None)
    if isinstance(v, bool) or v is None:
        return v
    if dt in ("timestamp with time zone", "timestamp without time zone", "date") and isinstance(v, (int, float, decimal.Decimal)):
        t = datetime.datetime.fromtimestamp(float(v) / 1000.0, tz=datetime.timezone.utc)
        return t if dt != "timestamp without time zone" else t.replace(tzinfo=None)
    if isinstance(v, dict):
        return psycopg2.extras.Json(v)
    if isinstance(v, list):
        if dt in ("json", "jsonb"):
            return psycopg2.extras.Json(v)
        if not v:
            return "{}"
        return v
    return v


def params_for(args, types):
    out = {}
    for i, v in enumerate(args):
        name = "p%d" % (i + 1)
        out[name] = convert(v, (types or {}).get(name))
    return out


def contains(value, needle):
    if isinstance(value, list):
        return any(contains(x, needle) for x in value)
    if isinstance(value, dict):
        return any(contains(x, needle) for x in value.values())
    return value == needle and not isinstance(value, bool)


class Plan:
    """What the stand-in must do around one INSERT or DELETE."""

    def __init__(self):
        self.types = {}
        self.key = None      # (schema, table)
        self.pk = []         # primary-key columns, in order
        self.returning = ""  # appended to the statement: the key of each row written
        self.by_query = False  # a DELETE that is a query, not a lookup by key
        self.where = None


def key_text(cols):
    return "concat_ws(chr(1), %s)" % ", ".join('"%s"::text' % c.replace('"', '""') for c in cols)


def check_statement(c, stmt, schema):
    """CrateDB semantics the sink must respect; returns a Plan (None for
    statements other than INSERT and DELETE)."""
    word = stmt.strip().split(None, 1)[0].upper() if stmt.strip() else ""
    if word == "ROLLBACK":
        with STATE.lock:
            STATE.stats["rollbacks"] += 1
        raise CrateError(4000, 400, "SQLParseException[ROLLBACK is not supported]")
    plan = Plan()
    d = DELETE_RE.match(stmt)
    if d:
        key, info = table_columns(c, d.group(1), schema)
        plan.key, plan.pk = key, info["pk_order"]
        named = set()
        for col, num in re.findall(r'(%s)\s*=\s*\$(\d+)' % IDENT, d.group(2)):
            named.add(unquote(col))
            if unquote(col) in info["cols"]:
                plan.types["p" + num] = info["cols"][unquote(col)]
        if plan.pk:
            plan.returning = " RETURNING " + key_text(plan.pk)
        # a lookup by key when every key column is named or generated from
        # named columns; otherwise a query over what the last refresh shows
        for k in plan.pk:
            if k in named:
                continue
            expr = info["generated"].get(k)
            refs = [unquote(x.group(0)) for x in re.finditer(IDENT, re.sub(r"'(?:[^']|'')*'", "", expr or ""))]
            if not expr or any(r in info["cols"] and r not in named for r in refs):
                plan.by_query = True
        plan.where = d.group(2)
        return plan
    m = INSERT_RE.match(stmt)
    if not m:
        return None
    cols = split_idents(m.group(2))
    key, info = table_columns(c, m.group(1), schema, cols)
    plan.key, plan.pk = key, info["pk_order"]
    tail = m.group(4)
    s = SET_RE.search(tail)
    if s:
        body = s.group(2)
        if re.search(r'\bWHERE\b', body, re.I):
            raise CrateError(4000, 400, "SQLParseException[line 1: mismatched input 'WHERE']")
        targets = [unquote(t.split("=", 1)[0]) for t in re.findall(r'(%s)\s*=' % IDENT, body)]
        routing = routing_of(c, key)
        for t in targets:
            if t in info["pk"]:
                what = "a primary key"
            elif t == routing["clustered_by"]:
                what = "a clustered-by column"
            elif t in (routing["partitioned_by"] or []):
                what = "a partitioned-by column"
            else:
                continue
            raise CrateError(4000, 400, "ColumnValidationException[Validation failed for %s: Updating %s "
                                        "is not supported]" % (t, what))
    values = [v.strip() for v in m.group(3).split(",")]
    for col, v in zip(cols, values):
        pm = re.match(r'^\$(\d+)$', v)
        if pm and col in info["cols"]:
            plan.types["p" + pm.group(1)] = info["cols"][col]
    if plan.pk:
        plan.returning = " RETURNING %s, (xmax = 0)" % key_text(plan.pk)
    return plan


def visible_cut(key):
    """The keys of @key's table not yet visible; forgets those the refresh
    interval has made visible."""
    with VIS_LOCK:
        pending = UNREFRESHED.get(key)
        if not pending:
            return set()
        with STATE.lock:
            interval = STATE.refresh_interval_ms / 1000.0
        now = time.monotonic()
        for k in [k for k, t in pending.items() if now - t >= interval]:
            del pending[k]
        return set(pending)


def note_written(key, rows):
    """Rows an INSERT returned (key text, inserted?): new rows wait for a refresh."""
    with VIS_LOCK, STATE.lock:
        if STATE.refresh_interval_ms <= 0:
            return
        pending = UNREFRESHED.setdefault(key, {})
        now = time.monotonic()
        for k, inserted in rows:
            if inserted and k not in pending:
                pending[k] = now


def note_deleted(key, keys):
    with VIS_LOCK:
        pending = UNREFRESHED.get(key)
        for k in keys:
            if pending:
                pending.pop(k, None)


FROM_RE = re.compile(r'\b(FROM|JOIN)\s+(%s(?:\s*\.\s*%s)?)' % (IDENT, IDENT), re.I)


def hide_unrefreshed(c, stmt, schema):
    """A SELECT over tables with rows not yet refreshed reads them without
    those rows.  Returns the statement and its extra parameters."""
    extra = {}

    def sub(m):
        name = m.group(2)
        if name.lower().startswith("information_schema") or name.lower().startswith("pg_"):
            return m.group(0)
        try:
            key, info = table_columns(c, name, schema)
        except psycopg2.Error:
            return m.group(0)
        hidden = visible_cut(key)
        if not hidden or not info["pk_order"]:
            return m.group(0)
        num = 9000 + len(extra)  # a placeholder beyond the client's own
        extra["p%d" % num] = sorted(hidden)
        alias = '"%s"' % key[1].replace('"', '""')
        return "%s (SELECT * FROM %s WHERE %s <> ALL($%d)) AS %s" % (
            m.group(1), name, key_text(info["pk_order"]), num, alias)

    return FROM_RE.sub(sub, stmt), extra


ROUTING_QUERY_RE = re.compile(r'^\s*SELECT\s+clustered_by\s*,\s*partitioned_by\s+FROM\s+information_schema\.tables\b',
                              re.I)


def execute(stmt, args, bulk_args, schema):
    c = set_schema(schema)
    word = stmt.strip().split(None, 1)[0].upper() if stmt.strip() else ""
    if word in ("CREATE", "ALTER", "DROP"):
        design = None
        if word == "CREATE":
            ensure_helpers(c)
            stmt, design = table_design(stmt, schema)
        stmt = crate_ddl_to_pg(stmt)
        forget_columns()
        if design:
            with VIS_LOCK:
                ROUTING[design[0]] = design[1]
    if ROUTING_QUERY_RE.match(stmt) and args and len(args) == 2:
        # information_schema.tables.clustered_by / partitioned_by
        with c.cursor() as cur:
            cur.execute("SELECT 1 FROM information_schema.tables WHERE table_schema = %s AND table_name = %s",
                        (args[0], args[1]))
            if cur.fetchone() is None:
                return {"cols": ["clustered_by", "partitioned_by"], "rows": [], "rowcount": 0}
        r = routing_of(c, (args[0], args[1]))
        return {"cols": ["clustered_by", "partitioned_by"], "rows": [[r["clustered_by"], r["partitioned_by"]]],
                "rowcount": 1}
    plan = check_statement(c, stmt, schema)
    if word in ("BEGIN", "COMMIT", "START"):
        return {"cols": [], "rows": [], "rowcount": 0}
    if word == "REFRESH":
        m = re.match(r'^\s*REFRESH\s+TABLE\s+(.+?)\s*;?\s*$', stmt, re.I | re.S)
        if not m:
            raise CrateError(4000, 400, "SQLParseException[REFRESH TABLE needs a table]")
        with c.cursor() as cur:
            for name in m.group(1).split(","):
                cur.execute("SELECT to_regclass(%s)", (name.strip(),))
                if cur.fetchone()[0] is None:
                    raise CrateError(4041, 404, "RelationUnknown[Relation '%s' unknown]" % name.strip())
                key, _ = table_columns(c, name.strip(), schema)
                with VIS_LOCK:
                    UNREFRESHED.pop(key, None)
        return {"cols": [], "rows": [], "rowcount": 1}
    extra = {}
    if word == "SELECT":
        stmt, extra = hide_unrefreshed(c, stmt, schema)
    if bulk_args is not None:
        if word not in ("INSERT", "UPDATE", "DELETE"):
            raise CrateError(4000, 400, "UnsupportedFeatureException[Bulk operations for statements that "
                                         "return result sets is not supported]")
        return execute_bulk(c, stmt, bulk_args, plan)
    res = execute_bulk(c, stmt, [args or []], plan, single=True) if plan else None
    if res is not None:
        r = res["results"][0]
        if r["rowcount"] == -2:
            e = r.get("error") or {"code": 5000, "message": "not written"}
            raise CrateError(e["code"], 400 if e["code"] < 5000 else 500, e["message"])
        return {"cols": [], "rows": [], "rowcount": r["rowcount"]}
    sql = split_sql(stmt)
    with c.cursor() as cur:
        try:
            params = params_for(args or [], None)
            params.update(extra)
            cur.execute(sql, params)
        except psycopg2.Error as e:
            code, status = crate_code(e)
            raise CrateError(code, status, "%s[%s]" % (type(e).__name__, str(e).strip().splitlines()[0]))
        if cur.description is None:
            return {"cols": [], "rows": [], "rowcount": cur.rowcount}
        oids = [d[1] for d in cur.description]
        rows = [[jsonable_col(v, oids[k]) for k, v in enumerate(r)] for r in cur.fetchall()]
        return {"cols": [d[0] for d in cur.description], "rows": rows, "rowcount": len(rows)}


def jsonable(v):
    if isinstance(v, decimal.Decimal):
        return float(v) if v != v.to_integral_value() else int(v)
    if isinstance(v, datetime.datetime):
        if v.tzinfo is None:
            v = v.replace(tzinfo=datetime.timezone.utc)
        return int(v.timestamp() * 1000)
    if isinstance(v, (datetime.date, datetime.time)):
        return v.isoformat()
    return v


def jsonable_col(v, oid):
    """A value of a column whose type is @oid: BIT(n) as CrateDB prints it
    ("Data types", BIT(n): B'00010010'), anything else by jsonable()."""
    if oid == BIT_OID and isinstance(v, str):
        return "B'%s'" % v
    return jsonable(v)


def injected(args):
    with STATE.lock:
        if STATE.fail_value is None or STATE.fail_count == 0 or not contains(args, STATE.fail_value):
            return None
        if STATE.fail_count > 0:
            STATE.fail_count -= 1
        return STATE.fail_code, STATE.fail_message


# SQLSTATEs of a value PostgreSQL could not convert: CrateDB refuses such a
# value while it binds the arguments, before anything is written
CAST_STATES = ("22P02", "22003", "22007", "22008", "22004", "2200N")


def run_one(cur, sql, p, plan):
    """One argument set: its row count."""
    if plan is None or not plan.by_query:
        cur.execute(sql, p)
        if plan is not None and plan.returning:
            rows = cur.fetchall()
            if plan.returning.endswith("(xmax = 0)"):
                note_written(plan.key, rows)
            else:
                note_deleted(plan.key, [r[0] for r in rows])
            return len(rows)
        return cur.rowcount
    # a DELETE that is a query: only rows the last refresh made visible
    hidden = visible_cut(plan.key)
    tbl = '"%s"."%s"' % (plan.key[0].replace('"', '""'), plan.key[1].replace('"', '""'))
    cur.execute(split_sql("SELECT %s FROM %s WHERE %s" % (key_text(plan.pk), tbl, plan.where)), p)
    gone = [r[0] for r in cur.fetchall() if r[0] not in hidden]
    for k in gone:
        cur.execute("DELETE FROM %s WHERE %s = %%s" % (tbl, key_text(plan.pk)), (k,))
    return len(gone)


def execute_bulk(c, stmt, bulk_args, plan, single=False):
    """Every argument set on its own, as CrateDB runs them: each row is
    written or fails alone (a savepoint each), except a value that cannot
    be cast, which fails the request before anything is written."""
    types = plan.types if plan else {}
    sql = split_sql(stmt + (plan.returning if plan and not plan.by_query else ""))
    results = [None] * len(bulk_args)
    nerr = 0
    with c.cursor() as cur:
        cur.execute("BEGIN")
        try:
            for i, args in enumerate(bulk_args):
                f = injected(args) if not single else None
                limbo = [v for v in STATE.doc_missing if contains(args, v)] if plan else []
                if limbo and plan.returning.endswith("(xmax = 0)") and re.search(r'DO\s+UPDATE', stmt, re.I):
                    f = (40411, "DocumentMissingException[[%s]: document missing]" % limbo[0])
                elif limbo and stmt.lstrip().upper().startswith("DELETE"):
                    with STATE.lock:
                        STATE.doc_missing = [v for v in STATE.doc_missing if v not in limbo]
                if f:
                    results[i] = {"rowcount": -2, "error": {"code": f[0], "message": f[1]}}
                    continue
                cur.execute("SAVEPOINT arg")
                try:
                    results[i] = {"rowcount": run_one(cur, sql, params_for(args, types), plan)}
                    cur.execute("RELEASE SAVEPOINT arg")
                except psycopg2.Error as e:
                    cur.execute("ROLLBACK TO SAVEPOINT arg")
                    if single:
                        raise  # answered as a top-level error, with its status
                    first = str(e).strip().splitlines()[0]
                    if (e.pgcode or "").startswith("42"):
                        # unknown table or column, syntax: CrateDB's analyzer
                        # refuses the statement before any row
                        code, status = crate_code(e)
                        raise CrateError(code, status, "%s[%s]" % (type(e).__name__, first))
                    if (e.pgcode or "") in CAST_STATES:
                        # real server: HTTP 400, {"code": 4000, "message": "Cannot cast value ..."}
                        raise CrateError(4000, 400, "SQLParseException[Cannot cast value: %s]" % first)
                    code, _ = crate_code(e)
                    results[i] = {"rowcount": -2, "error": {"code": code, "message": "%s[%s]" % (
                        type(e).__name__, first)}}
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
    for r in results:
        if r["rowcount"] == -2:
            nerr += 1
            if nerr > MAX_ERRORS_PER_REQUEST:
                r.pop("error", None)  # CrateDB: errors beyond the first 10 of a shard go without a reason
    with STATE.lock:
        if not single:
            STATE.stats["bulk_requests"] += 1
            STATE.stats["bulk_rows"] += len(bulk_args)
        STATE.stats["failed_rows"] += nerr
        old = STATE.old_version
    if old and not single:
        if len(results) == 1 and results[0]["rowcount"] == -2:
            e = results[0]["error"]
            raise CrateError(e["code"], 400 if e["code"] < 5000 else 500, e["message"])
        for r in results:
            r.pop("error", None)
    return {"cols": [], "results": results}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as CrateDB

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def do_GET(self):
        if self.path.startswith("/_test/stats"):
            with STATE.lock:
                self.reply(200, STATE.stats)
            return
        if self.path == "/":
            self.reply(200, {"ok": True, "name": "sluice-test-crate", "version": {"number": "stand-in"}})
            return
        self.reply(404, {"error": {"message": "not found", "code": 4000}})

    def do_POST(self):
        body = self.read_body()
        if self.path.startswith("/_test/faults"):
            f = json.loads(body or b"{}")
            with STATE.lock:
                if f.get("reset"):
                    stats = STATE.stats
                    STATE.reset()
                    if not f.get("reset_stats"):
                        STATE.stats = stats
                if "status" in f:
                    STATE.status = f["status"]
                    STATE.status_count = f.get("status_count", 1)
                if "fail_value" in f:
                    STATE.fail_value = f["fail_value"]
                    STATE.fail_code = f.get("fail_code", 4003)
                    STATE.fail_message = f.get("fail_message", "injected failure")
                    STATE.fail_count = f.get("fail_count", -1)
                if "old_version" in f:
                    STATE.old_version = bool(f["old_version"])
                if "doc_missing" in f:
                    STATE.doc_missing = list(f["doc_missing"])
                if "refresh_interval_ms" in f:
                    STATE.refresh_interval_ms = int(f["refresh_interval_ms"])
                if "huge_mb" in f:
                    STATE.huge_mb = int(f["huge_mb"])
                    STATE.huge_count = f.get("huge_count", 1)
            self.reply(200, {"ok": True})
            return
        if not self.path.startswith("/_sql"):
            self.reply(404, {"error": {"message": "unknown path %s" % self.path, "code": 4000}})
            return
        if ARGS.user:
            want = "Basic " + base64.b64encode(("%s:%s" % (ARGS.user, ARGS.password or "")).encode()).decode()
            if self.headers.get("Authorization") != want:
                self.reply(401, {"error": {"message": "trust authentication failed for user", "code": 4010}})
                return
        start = time.monotonic()
        with STATE.lock:
            STATE.stats["requests"] += 1
            if STATE.status is not None and STATE.status_count != 0:
                status = STATE.status
                if STATE.status_count > 0:
                    STATE.status_count -= 1
                if STATE.status_count == 0:
                    STATE.status = None
                STATE.stats["refused"] += 1
            else:
                status = None
        if status is not None:
            self.reply(status, {"error": {"message": "injected HTTP %d" % status, "code": 5000}})
            return
        with STATE.lock:
            huge = STATE.huge_mb if STATE.huge_count != 0 else 0
            if huge and STATE.huge_count > 0:
                STATE.huge_count -= 1
        if huge:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(huge * 1048576 + 2))
            self.end_headers()
            try:
                chunk = b" " * 1048576
                for _ in range(huge):
                    self.wfile.write(chunk)
                self.wfile.write(b"{}")
            except (BrokenPipeError, ConnectionResetError):
                pass
            self.close_connection = True
            return
        try:
            req = json.loads(body, parse_float=decimal.Decimal)
            stmt = req.get("stmt")
            if not isinstance(stmt, str):
                raise CrateError(4000, 400, "SQLParseException[Missing field 'stmt']")
            if "args" in req and "bulk_args" in req:
                raise CrateError(4000, 400, "SQLParseException[request body contains args and bulk_args. "
                                             "It's forbidden to provide both]")
            with STATE.lock:
                norm = re.sub(r"\s+", " ", stmt.strip())
                if norm not in STATE.stats["statements"] and len(STATE.stats["statements"]) < 500:
                    STATE.stats["statements"].append(norm)
            schema = self.headers.get("Default-Schema") or "doc"
            res = execute(stmt, req.get("args"), req.get("bulk_args"), schema)
            res["duration"] = round((time.monotonic() - start) * 1000.0, 3)
            self.reply(200, res)
        except CrateError as e:
            self.reply(e.status, {"error": {"message": e.message, "code": e.code}})
        except (ValueError, TypeError) as e:
            self.reply(400, {"error": {"message": "SQLParseException[%s]" % e, "code": 4000}})
        except psycopg2.Error as e:
            code, status = crate_code(e)
            self.reply(status, {"error": {"message": "%s[%s]" % (type(e).__name__, str(e).strip()), "code": code}})


# ---- the PostgreSQL wire protocol ----

PG_VERSION = b"14.0"  # SHOW server_version on a real CrateDB 6.4.1


def pg_rewrite(sql, schema_hint=None):
    """A statement as CrateDB's pgwire would treat it, for PostgreSQL to run."""
    word = sql.strip().split(None, 1)[0].upper() if sql.strip() else ""
    if word == "ROLLBACK":
        with STATE.lock:
            STATE.stats["rollbacks"] += 1
        return "ROLLBACK IS NOT SUPPORTED"  # real server: SQLSTATE 42601, a syntax error
    if word == "COPY" and re.search(r'\bFROM\s+STDIN\b', sql, re.I):
        return "SELECT public.crate_unsupported('COPY FROM STDIN is not supported')"
    if re.match(r'^\s*SHOW\s+server_version\s*;?\s*$', sql, re.I):
        return "SELECT '%s'::text AS server_version" % PG_VERSION.decode()
    if word == "REFRESH":
        return "DO $$ BEGIN END $$"  # accepted; PostgreSQL's writes are visible at once
    if word == "CREATE":
        stmt, design = table_design(sql, schema_hint or "doc")
        if design:
            with VIS_LOCK:
                ROUTING[design[0]] = design[1]
            forget_columns()
        return crate_ddl_to_pg(stmt)
    return sql


def pg_helpers(dsn):
    c = psycopg2.connect(dsn)
    c.autocommit = True
    ensure_helpers(c)
    c.close()


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return buf


def pg_client_to_server(client, server):
    import struct
    # startup: SSLRequest / GSSENCRequest are refused ('N'), then the startup packet
    while True:
        n = struct.unpack("!I", recv_exact(client, 4))[0]
        body = recv_exact(client, n - 4)
        code = struct.unpack("!I", body[:4])[0]
        if code in (80877103, 80877104):
            client.sendall(b"N")
            continue
        server.sendall(struct.pack("!I", n) + body)
        break
    while True:
        t = recv_exact(client, 1)
        n = struct.unpack("!I", recv_exact(client, 4))[0]
        body = recv_exact(client, n - 4)
        if t == b"Q":
            sql = pg_rewrite(body[:-1].decode("utf-8", "replace")).encode()
            body = sql + b"\0"
        elif t == b"P":
            name_end = body.index(b"\0")
            q_end = body.index(b"\0", name_end + 1)
            sql = pg_rewrite(body[name_end + 1:q_end].decode("utf-8", "replace")).encode()
            body = body[:name_end + 1] + sql + body[q_end:]
        server.sendall(t + struct.pack("!I", len(body) + 4) + body)


def pg_server_to_client(server, client):
    import struct
    while True:
        t = recv_exact(server, 1)
        n = struct.unpack("!I", recv_exact(server, 4))[0]
        body = recv_exact(server, n - 4)
        if t == b"S" and body.startswith(b"server_version\0"):
            body = b"server_version\0" + PG_VERSION + b"\0"
        client.sendall(t + struct.pack("!I", len(body) + 4) + body)


def pg_proxy(listener, host, port):
    import socket

    def pump(fn, a, b):
        try:
            fn(a, b)
        except (OSError, ConnectionError, ValueError):
            pass
        for sk in (a, b):
            try:
                sk.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    while True:
        client, _ = listener.accept()
        try:
            server = socket.create_connection((host, port))
        except OSError:
            client.close()
            continue
        threading.Thread(target=pump, args=(pg_client_to_server, client, server), daemon=True).start()
        threading.Thread(target=pump, args=(pg_server_to_client, server, client), daemon=True).start()


def main():
    global ARGS
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dsn", required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--user")
    p.add_argument("--password")
    p.add_argument("--pg-port", type=int, default=None)
    ARGS = p.parse_args()
    psycopg2.extensions.register_type(psycopg2.extensions.UNICODE)
    srv = ThreadingHTTPServer(("127.0.0.1", ARGS.port), Handler)
    srv.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *a: threading.Thread(target=srv.shutdown).start())
    print("SLUICE_TEST_CRATEDB_URL=http://127.0.0.1:%d" % srv.server_address[1], flush=True)
    if ARGS.pg_port is not None:
        import socket
        pg_helpers(ARGS.dsn)
        d = psycopg2.extensions.parse_dsn(ARGS.dsn)
        lst = socket.socket()
        lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lst.bind(("127.0.0.1", ARGS.pg_port))
        lst.listen(64)
        threading.Thread(target=pg_proxy, args=(lst, d.get("host", "127.0.0.1"), int(d.get("port", 5432))),
                         daemon=True).start()
        d.update(host="127.0.0.1", port=str(lst.getsockname()[1]))
        print("SLUICE_TEST_CRATEDB_DSN=%s" % " ".join("%s=%s" % kv for kv in d.items()), flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
