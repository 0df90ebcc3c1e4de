#!/usr/bin/python3
"""A small Schema Registry for sluice's tests: the endpoints sluice uses, with
the behaviour Confluent's API reference documents
(https://docs.confluent.io/platform/current/schema-registry/develop/api.html):

  GET  /schemas/ids/{id}            200 {"schema": "<text>"} ("schemaType" only
                                    when not AVRO, as the reference says);
                                    404 {"error_code": 40403, "message": ...}
  POST /subjects/{subject}/versions body {"schema": "<text>"[, "schemaType"]};
                                    200 {"id": N}; registering a schema text
                                    that is already registered returns its
                                    existing id (ids are global, one per
                                    distinct schema); 422 {"error_code": 42201}
                                    for a body without a schema
  GET  /subjects                    200 ["subject", ...]
  GET  /subjects/{subject}/versions 200 [1, 2, ...]; 404 error_code 40401
Errors always carry {"error_code", "message"}; unknown paths are 404 with
error_code 404, as the reference's generic errors.

For tests only, under /_test/: GET requests (how many GET /schemas/ids/{id}
were served, per id), POST status?code=503 (answer every registry request
with that status, 50001-style body, until POST status?code=0).

Authentication, as Confluent's registry offers it: HTTP basic (--user,
--password); a bearer token (--bearer-file F: "Authorization: Bearer <the
content of F>", F read for each request so a test can rotate it; Confluent
Platform's OAuth for Schema Registry and Confluent Cloud take bearer tokens
in that header, and answer a wrong one 401 with error_code 40101 as for
basic auth); TLS with client certificates (--tls-cert, --tls-key,
--client-ca: the handshake fails for a client without a certificate that
CA signed, as the registry's ssl.client.authentication=REQUIRED does).

Usage: registry_server.py [--port N] [--user U --password P] [--bearer-file F]
                          [--tls-cert C --tls-key K --client-ca CA] [--port-file F]
Prints "port N" on stdout once listening.
"""
import argparse
import base64
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlparse, parse_qs

lock = threading.Lock()
schemas = {}        # id -> (text, type)
by_text = {}        # (text, type) -> id
subjects = {}       # subject -> [id, ...] (versions in order)
get_counts = {}     # id -> GET /schemas/ids/{id} served
forced_status = 0   # /_test/status


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    auth = None
    bearer_file = None

    def log_message(self, fmt, *args):  # quiet: tests read their own output
        pass

    def reply(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def error(self, status, code, message):
        self.reply(status, {"error_code": code, "message": message})

    def authorized(self):
        if Handler.bearer_file:
            with open(Handler.bearer_file) as f:
                want = "Bearer " + f.read().strip()
        elif not Handler.auth:
            return True
        else:
            want = "Basic " + base64.b64encode(Handler.auth.encode()).decode()
        if self.headers.get("Authorization") == want:
            return True
        # the registry answers 401 with its error body when credentials are wrong
        self.error(401, 40101, "Unauthorized")
        return False

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def do_GET(self):
        url = urlparse(self.path)
        parts = [unquote(p) for p in url.path.split("/") if p]
        if parts[:1] == ["_test"]:
            if parts[1:] == ["requests"]:
                with lock:
                    return self.reply(200, {str(k): v for k, v in get_counts.items()})
            return self.error(404, 404, "HTTP 404 Not Found")
        if forced_status:
            return self.error(forced_status, 50001, "Error in the backend data store")
        if not self.authorized():
            return
        if len(parts) == 3 and parts[:2] == ["schemas", "ids"]:
            try:
                sid = int(parts[2])
            except ValueError:
                return self.error(404, 40403, "Schema not found")
            with lock:
                get_counts[sid] = get_counts.get(sid, 0) + 1
                found = schemas.get(sid)
            if not found:
                return self.error(404, 40403, "Schema %d not found" % sid)
            text, stype = found
            obj = {"schema": text}
            if stype != "AVRO":
                obj["schemaType"] = stype
            return self.reply(200, obj)
        if parts == ["subjects"]:
            with lock:
                return self.reply(200, sorted(subjects))
        if len(parts) == 3 and parts[0] == "subjects" and parts[2] == "versions":
            with lock:
                versions = subjects.get(parts[1])
            if versions is None:
                return self.error(404, 40401, "Subject '%s' not found." % parts[1])
            return self.reply(200, list(range(1, len(versions) + 1)))
        return self.error(404, 404, "HTTP 404 Not Found")

    def do_POST(self):
        global forced_status
        url = urlparse(self.path)
        parts = [unquote(p) for p in url.path.split("/") if p]
        data = self.body()
        if parts == ["_test", "status"]:
            forced_status = int(parse_qs(url.query).get("code", ["0"])[0])
            return self.reply(200, {"status": forced_status})
        if forced_status:
            return self.error(forced_status, 50001, "Error in the backend data store")
        if not self.authorized():
            return
        if len(parts) == 3 and parts[0] == "subjects" and parts[2] == "versions":
            try:
                req = json.loads(data or b"{}")
            except ValueError:
                return self.error(400, 400, "Unrecognized request body")
            text = req.get("schema") if isinstance(req, dict) else None
            if not isinstance(text, str):
                return self.error(422, 42201, "Invalid schema")
            stype = req.get("schemaType", "AVRO")
            if stype == "AVRO":
                try:
                    json.loads(text)
                except ValueError:
                    return self.error(422, 42201, "Invalid schema: not JSON")
            with lock:
                key = (text, stype)
                sid = by_text.get(key)
                if sid is None:
                    sid = len(schemas) + 1
                    schemas[sid] = key
                    by_text[key] = sid
                versions = subjects.setdefault(parts[1], [])
                if sid not in versions:
                    versions.append(sid)
            return self.reply(200, {"id": sid})
        return self.error(404, 404, "HTTP 404 Not Found")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--user")
    ap.add_argument("--password")
    ap.add_argument("--port-file")
    ap.add_argument("--bearer-file")
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--client-ca")
    a = ap.parse_args()
    if a.user:
        Handler.auth = "%s:%s" % (a.user, a.password or "")
    Handler.bearer_file = a.bearer_file
    srv = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    if a.tls_cert:
        import ssl
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(a.tls_cert, a.tls_key)
        ctx.load_verify_locations(a.client_ca)
        ctx.verify_mode = ssl.CERT_REQUIRED
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    srv.daemon_threads = True
    port = srv.server_address[1]
    if a.port_file:
        with open(a.port_file + ".tmp", "w") as f:
            f.write("%d\n" % port)
        import os
        os.rename(a.port_file + ".tmp", a.port_file)
    print("port %d" % port, flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
