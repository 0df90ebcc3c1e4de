/* crate_fixture.c - running the CrateDB stand-in for the tests. */
#include "crate_fixture.h"

#include <check.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sluice/strbuf.h"
#include "support.h"

cf_server *cf_start(void)
{
    int fds[2];
    ck_assert(pipe(fds) == 0);
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execl("/usr/bin/python3", "python3", CRATE_SERVER, "--dsn", ts_pg_dsn(), "--port", "0", "--pg-port", "0",
              (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    FILE *in = fdopen(fds[0], "r");
    char line[256] = "", line2[600] = "";
    bool ok = fgets(line, sizeof(line), in) != NULL;
    bool ok2 = ok && fgets(line2, sizeof(line2), in) != NULL;
    fclose(in);
    const char *prefix = "SLUICE_TEST_CRATEDB_URL=", *prefix2 = "SLUICE_TEST_CRATEDB_DSN=";
    ck_assert_msg(ok && !strncmp(line, prefix, strlen(prefix)), "crate_server.py did not start: '%s'", line);
    ck_assert_msg(ok2 && !strncmp(line2, prefix2, strlen(prefix2)), "crate_server.py's pgwire did not start: '%s'",
                  line2);
    cf_server *s = calloc(1, sizeof(*s));
    s->pid = pid;
    snprintf(s->url, sizeof(s->url), "%.*s", (int)strcspn(line + strlen(prefix), "\r\n"), line + strlen(prefix));
    snprintf(s->dsn, sizeof(s->dsn), "%.*s", (int)strcspn(line2 + strlen(prefix2), "\r\n"),
             line2 + strlen(prefix2));
    return s;
}

void cf_stop(cf_server *s)
{
    if (!s)
        return;
    kill(s->pid, SIGTERM);
    int st;
    for (int i = 0; i < 100; i++) {
        if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
            free(s);
            return;
        }
        usleep(50000);
    }
    kill(s->pid, SIGKILL);
    waitpid(s->pid, &st, 0);
    free(s);
}

static long http(const char *url, const char *schema, const char *body, char **out)
{
    char hdr[256];
    snprintf(hdr, sizeof(hdr), "Default-Schema: %s", schema ? schema : "");
    const char *headers[] = {"Content-Type: application/json", schema ? hdr : NULL, NULL};
    sl_strbuf resp = SL_STRBUF_INIT;
    long status = ts_http(&(ts_http_req){.url = url, .headers = headers, .body = body, .timeout_s = 60,
                                         .must_answer = true},
                          &resp);
    if (out)
        *out = sl_strbuf_steal(&resp);
    else
        sl_strbuf_free(&resp);
    return status;
}

void cf_faults(const cf_server *s, const char *json)
{
    char url[160];
    snprintf(url, sizeof(url), "%s/_test/faults", s->url);
    ck_assert_int_eq(http(url, NULL, json, NULL), 200);
}

char *cf_stats(const cf_server *s)
{
    char url[160], *body = NULL;
    snprintf(url, sizeof(url), "%s/_test/stats", s->url);
    ck_assert_int_eq(http(url, NULL, NULL, &body), 200);
    return body;
}

long cf_stat_int(const cf_server *s, const char *name)
{
    char *body = cf_stats(s);
    json_t *j = json_loads(body, 0, NULL);
    ck_assert(j != NULL);
    long v = (long)json_integer_value(json_object_get(j, name));
    json_decref(j);
    free(body);
    return v;
}

long cf_sql(const char *url, const char *schema, const char *stmt, char **body)
{
    char full[200];
    snprintf(full, sizeof(full), "%s/_sql", url);
    json_t *req = json_pack("{s:s}", "stmt", stmt);
    char *text = json_dumps(req, JSON_COMPACT);
    long st = http(full, schema, text, body);
    free(text);
    json_decref(req);
    return st;
}

long cf_post(const char *url, const char *schema, const char *request, char **body)
{
    char full[200];
    snprintf(full, sizeof(full), "%s/_sql", url);
    return http(full, schema, request, body);
}
