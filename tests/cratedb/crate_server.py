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
  ("Objects", column policy) becomes jsonb, which holds the same JSON
  objects (but, unlike OBJECT, also arrays and scalars: the stand-in cannot
  tell that CrateDB would refuse those); ARRAY(T) ("Arrays", ARRAY(data_type)
  or data_type[]) becomes T[].
  TIMESTAMP WITH / WITHOUT TIME ZONE ("Dates and times"), TEXT, BOOLEAN,
  INTEGER, BIGINT, REAL and DOUBLE PRECISION are spelled alike in both and
  pass unchanged.  So information_schema reports jsonb where CrateDB would
  say object, which sluice treats alike.  After any DDL the column types
  remembered for argument conversion are read again.
- Basic authentication when --user is given: 401 otherwise.

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
GET /_test/stats returns counters and every distinct statement seen.
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
        self.stats = {"requests": 0, "bulk_requests": 0, "bulk_rows": 0, "failed_rows": 0,
                      "refused": 0, "rollbacks": 0, "statements": []}


STATE = State()
ARGS = None
LOCAL = threading.local()
COLTYPES = {}  # (schema, table) -> {column: (data_type, udt, domain)}
COLTYPES_LOCK = threading.Lock()


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
ARRAY_RE = re.compile(r'\bARRAY\s*\(\s*([^()]+?)\s*\)', re.I)


def crate_ddl_to_pg(stmt):
    """CrateDB's OBJECT(...) and ARRAY(T) type names as PostgreSQL's jsonb
    and T[], outside quoted identifiers and string literals (a column may be
    called "object")."""
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
        text = OBJECT_RE.sub("jsonb", stmt[i:j])
        while True:  # innermost first: ARRAY(ARRAY(TEXT)) -> text[][]
            text, k = ARRAY_RE.subn(lambda m: m.group(1) + "[]", text)
            if not k:
                break
        out.append(text)
        i = j
    return "".join(out)


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
        cur.execute("SELECT column_name, data_type, udt_name, domain_name FROM information_schema.columns"
                    " WHERE table_schema = %s AND table_name = %s", key)
        cols = {r[0]: (r[1], r[2], r[3]) for r in cur.fetchall()}
        cur.execute("SELECT k.column_name FROM information_schema.table_constraints t"
                    " JOIN information_schema.key_column_usage k USING (constraint_schema, constraint_name)"
                    " WHERE t.table_schema = %s AND t.table_name = %s AND t.constraint_type = 'PRIMARY KEY'",
                    key)
        pk = {r[0] for r in cur.fetchall()}
    info = {"cols": cols, "pk": pk}
    with COLTYPES_LOCK:
        COLTYPES[key] = info
    return key, info


def check_statement(c, stmt, schema):
    """CrateDB semantics the sink must respect; returns per-placeholder column types."""
    word = stmt.strip().split(None, 1)[0].upper() if stmt.strip() else ""
    if word == "ROLLBACK":
        with STATE.lock:
            STATE.stats["rollbacks"] += 1
        raise CrateError(4000, 400, "SQLParseException[ROLLBACK is not supported]")
    d = DELETE_RE.match(stmt)
    if d:
        key, info = table_columns(c, d.group(1), schema)
        types = {}
        for col, num in re.findall(r'(%s)\s*=\s*\$(\d+)' % IDENT, d.group(2)):
            if unquote(col) in info["cols"]:
                types["p" + num] = info["cols"][unquote(col)]
        return types
    m = INSERT_RE.match(stmt)
    if not m:
        return None
    cols = split_idents(m.group(2))
    key, info = table_columns(c, m.group(1), schema, cols)
    tail = m.group(4)
    s = SET_RE.search(tail)
    if s:
        body = s.group(2)
        if re.search(r'\bWHERE\b', body, re.I):
            raise CrateError(4000, 400, "SQLParseException[line 1: mismatched input 'WHERE']")
        targets = [unquote(t.split("=", 1)[0]) for t in re.findall(r'(%s)\s*=' % IDENT, body)]
        for t in targets:
            if t in info["pk"]:
                raise CrateError(4000, 400,
                                 "ColumnValidationException[Validation failed for %s: Updating a primary key "
                                 "is not supported]" % t)
    values = [v.strip() for v in m.group(3).split(",")]
    types = {}
    for col, v in zip(cols, values):
        pm = re.match(r'^\$(\d+)$', v)
        if pm and col in info["cols"]:
            types["p" + pm.group(1)] = info["cols"][col]
    return types


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


def execute(stmt, args, bulk_args, schema):
    c = set_schema(schema)
    word = stmt.strip().split(None, 1)[0].upper() if stmt.strip() else ""
    if word in ("CREATE", "ALTER", "DROP"):
        stmt = crate_ddl_to_pg(stmt)
        forget_columns()
    types = check_statement(c, stmt, schema)
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
        return {"cols": [], "rows": [], "rowcount": 1}
    sql = split_sql(stmt)
    if bulk_args is not None:
        if word not in ("INSERT", "UPDATE", "DELETE"):
            raise CrateError(4000, 400, "UnsupportedFeatureException[Bulk operations for statements that "
                                         "return result sets is not supported]")
        return execute_bulk(c, sql, bulk_args, types)
    with c.cursor() as cur:
        try:
            cur.execute(sql, params_for(args or [], types))
        except psycopg2.Error as e:
            code, status = crate_code(e)
            raise CrateError(code, status, "%s[%s]" % (type(e).__name__, str(e).strip().splitlines()[0]))
        if cur.description is None:
            return {"cols": [], "rows": [], "rowcount": cur.rowcount}
        rows = [[jsonable(v) for v in r] for r in cur.fetchall()]
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


def injected(args):
    with STATE.lock:
        if STATE.fail_value is None or STATE.fail_count == 0 or not contains(args, STATE.fail_value):
            return None
        if STATE.fail_count > 0:
            STATE.fail_count -= 1
        return STATE.fail_code, STATE.fail_message


def execute_bulk(c, sql, bulk_args, types):
    """Every argument set on its own, as CrateDB runs them; a fast path
    runs them in one transaction and falls back when any fails."""
    results = [None] * len(bulk_args)
    fails = {}
    for i, args in enumerate(bulk_args):
        f = injected(args)
        if f:
            fails[i] = f
    params = [params_for(a, types) for a in bulk_args]
    done = False
    if not fails:
        try:
            with c.cursor() as cur:
                cur.execute("BEGIN")
                for i, p in enumerate(params):
                    cur.execute(sql, p)
                    results[i] = {"rowcount": cur.rowcount}
                cur.execute("COMMIT")
            done = True
        except psycopg2.Error:
            c.rollback() if not c.autocommit else None
            with c.cursor() as cur:
                cur.execute("ROLLBACK")
    if not done:
        for i, p in enumerate(params):
            if i in fails:
                code, msg = fails[i]
                results[i] = {"rowcount": -2, "error": {"code": code, "message": msg}}
                continue
            try:
                with c.cursor() as cur:
                    cur.execute(sql, p)
                    results[i] = {"rowcount": cur.rowcount}
            except psycopg2.Error as e:
                code, _ = crate_code(e)
                results[i] = {"rowcount": -2, "error": {
                    "code": code, "message": "%s[%s]" % (type(e).__name__, str(e).strip().splitlines()[0])}}
    nfail = sum(1 for r in results if r["rowcount"] == -2)
    with STATE.lock:
        STATE.stats["bulk_requests"] += 1
        STATE.stats["bulk_rows"] += len(bulk_args)
        STATE.stats["failed_rows"] += nfail
        old = STATE.old_version
    if old:
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


def main():
    global ARGS
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dsn", required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--user")
    p.add_argument("--password")
    ARGS = p.parse_args()
    psycopg2.extensions.register_type(psycopg2.extensions.UNICODE)
    srv = ThreadingHTTPServer(("127.0.0.1", ARGS.port), Handler)
    srv.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *a: threading.Thread(target=srv.shutdown).start())
    print("SLUICE_TEST_CRATEDB_URL=http://127.0.0.1:%d" % srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
