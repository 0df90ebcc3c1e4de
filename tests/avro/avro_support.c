/* avro_support.c - see avro_support.h. */
#include "avro_support.h"

#include <check.h>
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sluice/registry.h"
#include "sluice/strbuf.h"
#include "support.h"

static void spawn(ar_server *s, const char *user, const char *password, const char *const *extra)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    char port[16];
    snprintf(port, sizeof(port), "%d", s->port);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        const char *argv[24] = {"/usr/bin/python3", SLUICE_REGISTRY_SERVER, "--port", port};
        int n = 4;
        if (user) {
            argv[n++] = "--user";
            argv[n++] = user;
            argv[n++] = "--password";
            argv[n++] = password ? password : "";
        }
        for (size_t i = 0; extra && extra[i] && n < 23; i++)
            argv[n++] = extra[i];
        argv[n] = NULL;
        execv(argv[0], (char **)argv);
        _exit(127);
    }
    close(fds[1]);
    /* the server prints "port N" once it listens: read that line */
    char line[64] = "";
    size_t len = 0;
    struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
    while (len < sizeof(line) - 1 && !memchr(line, '\n', len)) {
        int r = poll(&pfd, 1, 20000);
        ck_assert_msg(r > 0, "the test registry did not start within 20 s");
        ssize_t got = read(fds[0], line + len, sizeof(line) - 1 - len);
        ck_assert_msg(got > 0, "the test registry exited before listening");
        len += (size_t)got;
        line[len] = '\0';
    }
    close(fds[0]);
    ck_assert_int_eq(sscanf(line, "port %d", &s->port), 1);
    s->pid = pid;
    snprintf(s->url, sizeof(s->url), "http://127.0.0.1:%d", s->port);
}

static char *saved_user, *saved_password;

ar_server *ar_start(int port, const char *user, const char *password, bool allow_real)
{
    ar_server *s = sl_xcalloc(1, sizeof(*s));
    const char *real = getenv("SLUICE_TEST_SCHEMA_REGISTRY");
    if (allow_real && real && *real) {
        s->real = true;
        snprintf(s->url, sizeof(s->url), "%s", real);
        return s;
    }
    s->port = port;
    free(saved_user);
    free(saved_password);
    saved_user = user ? sl_xstrdup(user) : NULL;
    saved_password = password ? sl_xstrdup(password) : NULL;
    spawn(s, user, password, NULL);
    return s;
}

ar_server *ar_start_args(const char *const *args, bool tls)
{
    ar_server *s = sl_xcalloc(1, sizeof(*s));
    spawn(s, NULL, NULL, args);
    if (tls)
        snprintf(s->url, sizeof(s->url), "https://127.0.0.1:%d", s->port);
    return s;
}

void ar_stop(ar_server *s)
{
    if (!s->pid)
        return;
    kill(s->pid, SIGTERM);
    int st;
    while (waitpid(s->pid, &st, 0) < 0 && errno == EINTR)
        ;
    s->pid = 0;
}

void ar_restart(ar_server *s)
{
    ar_stop(s);
    spawn(s, saved_user, saved_password, NULL); /* same port: s->port */
}

void ar_free(ar_server *s)
{
    if (!s)
        return;
    ar_stop(s);
    free(s);
}

int ar_register(ar_server *s, const char *subject, const char *schema)
{
    char *url = s->url;
    sl_registry_conf conf = {.urls = &url, .nurls = 1, .timeout_ms = 10000};
    if (saved_user && !s->real) {
        conf.user = saved_user;
        conf.password = saved_password;
    }
    sl_error err;
    sl_registry *r = sl_registry_new(&conf, &err);
    ck_assert_ptr_nonnull(r);
    int id = -1;
    int rc = sl_registry_register(r, subject, schema, &id, &err);
    ck_assert_msg(rc == 0, "registering %s: %s", subject, err.msg);
    sl_registry_free(r);
    return id;
}

long ar_get_count(ar_server *s, int id)
{
    char url[256];
    snprintf(url, sizeof(url), "%s/_test/requests", s->url);
    sl_strbuf body = SL_STRBUF_INIT;
    ts_http_get(url, &body);
    json_t *j = json_loadb(body.data, body.len, 0, NULL);
    sl_strbuf_free(&body);
    char k[16];
    snprintf(k, sizeof(k), "%d", id);
    long n = (long)json_integer_value(json_object_get(j, k));
    json_decref(j);
    return n;
}

void at_init(avro_type *t, const char *json)
{
    ck_assert_msg(avro_schema_from_json_length(json, strlen(json), &t->schema) == 0, "%s", avro_strerror());
    t->iface = avro_generic_class_from_schema(t->schema);
    ck_assert_int_eq(avro_generic_value_new(t->iface, &t->value), 0);
}

void at_fini(avro_type *t)
{
    avro_value_decref(&t->value);
    avro_value_iface_decref(t->iface);
    avro_schema_decref(t->schema);
}

char *ar_wire(int id, avro_value_t *v, size_t *len)
{
    size_t size;
    ck_assert_int_eq(avro_value_sizeof(v, &size), 0);
    char *buf = sl_xmalloc(size + 5);
    buf[0] = 0;
    buf[1] = (char)(id >> 24);
    buf[2] = (char)(id >> 16);
    buf[3] = (char)(id >> 8);
    buf[4] = (char)id;
    avro_writer_t w = avro_writer_memory(buf + 5, (int64_t)size);
    ck_assert_msg(avro_value_write(w, v) == 0, "avro_value_write: %s", avro_strerror());
    avro_writer_free(w);
    *len = size + 5;
    return buf;
}

size_t ar_be_bytes(__int128 x, unsigned char *out)
{
    unsigned char tmp[16];
    for (int i = 15; i >= 0; i--) {
        tmp[i] = (unsigned char)(x & 0xff);
        x >>= 8;
    }
    /* drop redundant sign bytes */
    int start = 0;
    while (start < 15 && ((tmp[start] == 0x00 && !(tmp[start + 1] & 0x80)) ||
                          (tmp[start] == 0xff && (tmp[start + 1] & 0x80))))
        start++;
    memcpy(out, tmp + start, (size_t)(16 - start));
    return (size_t)(16 - start);
}

const char ar_alltypes_schema[] =
    "{\"type\":\"record\",\"name\":\"AllTypes\",\"namespace\":\"sluice.test\",\"fields\":["
    "{\"name\":\"id\",\"type\":\"long\"},"
    "{\"name\":\"b\",\"type\":\"boolean\"},"
    "{\"name\":\"i\",\"type\":\"int\"},"
    "{\"name\":\"f\",\"type\":\"float\"},"
    "{\"name\":\"d\",\"type\":\"double\"},"
    "{\"name\":\"s\",\"type\":\"string\"},"
    "{\"name\":\"raw\",\"type\":\"bytes\"},"
    "{\"name\":\"fx\",\"type\":{\"type\":\"fixed\",\"name\":\"Four\",\"size\":4}},"
    "{\"name\":\"color\",\"type\":{\"type\":\"enum\",\"name\":\"Color\",\"symbols\":[\"RED\",\"GREEN\"]}},"
    "{\"name\":\"dec\",\"type\":{\"type\":\"bytes\",\"logicalType\":\"decimal\",\"precision\":20,\"scale\":4}},"
    "{\"name\":\"decfx\",\"type\":{\"type\":\"fixed\",\"name\":\"Dec9\",\"size\":9,\"logicalType\":\"decimal\",\"precision\":20,\"scale\":2}},"
    "{\"name\":\"day\",\"type\":{\"type\":\"int\",\"logicalType\":\"date\"}},"
    "{\"name\":\"tms\",\"type\":{\"type\":\"int\",\"logicalType\":\"time-millis\"}},"
    "{\"name\":\"tus\",\"type\":{\"type\":\"long\",\"logicalType\":\"time-micros\"}},"
    "{\"name\":\"tsms\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}},"
    "{\"name\":\"tsus\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-micros\"}},"
    "{\"name\":\"ltms\",\"type\":{\"type\":\"long\",\"logicalType\":\"local-timestamp-millis\"}},"
    "{\"name\":\"ltus\",\"type\":{\"type\":\"long\",\"logicalType\":\"local-timestamp-micros\"}},"
    "{\"name\":\"u\",\"type\":{\"type\":\"string\",\"logicalType\":\"uuid\"}},"
    "{\"name\":\"opt\",\"type\":[\"null\",\"string\"],\"default\":null},"
    "{\"name\":\"tags\",\"type\":{\"type\":\"array\",\"items\":\"string\"}},"
    "{\"name\":\"attrs\",\"type\":{\"type\":\"map\",\"values\":\"long\"}},"
    "{\"name\":\"inner\",\"type\":{\"type\":\"record\",\"name\":\"Inner\",\"fields\":[{\"name\":\"x\",\"type\":\"int\"}]}}"
    "]}";

static avro_value_t field(avro_value_t *rec, const char *name)
{
    avro_value_t f;
    ck_assert_msg(avro_value_get_by_name(rec, name, &f, NULL) == 0, "no field %s", name);
    return f;
}

void ar_alltypes_fill(avro_value_t *rec, int64_t id, int variant)
{
    avro_value_t f, e;
    unsigned char be[16];
    f = field(rec, "id"); avro_value_set_long(&f, id);
    f = field(rec, "b"); avro_value_set_boolean(&f, variant == 0);
    f = field(rec, "i"); avro_value_set_int(&f, variant == 0 ? -2147483647 - 1 : 2147483647);
    f = field(rec, "f"); avro_value_set_float(&f, variant == 0 ? 1.5f : -0.25f);
    f = field(rec, "d"); avro_value_set_double(&f, variant == 0 ? -0.1 : 1e300);
    f = field(rec, "s"); avro_value_set_string(&f, variant == 0 ? "h\xc3\xa9llo \"quoted\"" : "");
    f = field(rec, "raw"); avro_value_set_bytes(&f, variant == 0 ? "\x00\xff\x10" : "", variant == 0 ? 3 : 0);
    f = field(rec, "fx"); avro_value_set_fixed(&f, "\x01\x02\x03\x04", 4);
    f = field(rec, "color"); avro_value_set_enum(&f, variant == 0 ? 1 : 0);
    /* -123456789012345.6789 / 0.0000 */
    size_t n = ar_be_bytes(variant == 0 ? -(__int128)1234567890123456789LL : 0, be);
    f = field(rec, "dec"); avro_value_set_bytes(&f, be, n);
    /* fixed(9): sign-extended to exactly 9 bytes; 1.00 / -0.05 */
    unsigned char fx9[9];
    memset(fx9, variant == 0 ? 0x00 : 0xff, 9);
    fx9[8] = variant == 0 ? 100 : (unsigned char)-5;
    f = field(rec, "decfx"); avro_value_set_fixed(&f, fx9, 9);
    f = field(rec, "day"); avro_value_set_int(&f, variant == 0 ? -1 : -719162);
    f = field(rec, "tms"); avro_value_set_int(&f, variant == 0 ? 45296789 : 0);
    f = field(rec, "tus"); avro_value_set_long(&f, variant == 0 ? 45296789012LL : 86399999999LL);
    f = field(rec, "tsms"); avro_value_set_long(&f, variant == 0 ? -1 : 1714564800123LL);
    f = field(rec, "tsus"); avro_value_set_long(&f, variant == 0 ? 1714564800123456LL : -62135596800000000LL);
    f = field(rec, "ltms"); avro_value_set_long(&f, variant == 0 ? 0 : 1714564800123LL);
    f = field(rec, "ltus"); avro_value_set_long(&f, variant == 0 ? -86400000001LL : 1714564800000001LL);
    f = field(rec, "u"); avro_value_set_string(&f, "0f8fad5b-d9cb-469f-a165-70867728950e");
    f = field(rec, "opt");
    if (variant == 0) {
        avro_value_set_branch(&f, 0, &e);
        avro_value_set_null(&e);
    } else {
        avro_value_set_branch(&f, 1, &e);
        avro_value_set_string(&e, "set");
    }
    f = field(rec, "tags");
    avro_value_reset(&f);
    if (variant == 0) {
        avro_value_append(&f, &e, NULL); avro_value_set_string(&e, "a");
        avro_value_append(&f, &e, NULL); avro_value_set_string(&e, "b,c");
    }
    f = field(rec, "attrs");
    avro_value_reset(&f);
    avro_value_add(&f, "k", &e, NULL, NULL); avro_value_set_long(&e, variant == 0 ? 1 : -9007199254740993LL);
    f = field(rec, "inner");
    avro_value_t x = field(&f, "x");
    avro_value_set_int(&x, 7);
}
