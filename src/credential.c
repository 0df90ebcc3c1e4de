/* credential.c - a target's credentials read again for each new connection:
 * `${file:}` secrets of its dsn and password, and its password_command
 * (see credential.h). */
#include "sluice/credential.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sluice/redact.h"
#include "sluice/strbuf.h"

extern char **environ;

#define OUT_MAX (64 * 1024) /* as a ${file:} secret */
#define ERR_MAX 1024

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Read what is there from @fd into @sb (at most @max bytes kept); false at EOF. */
static bool drain(int fd, sl_strbuf *sb, size_t max, bool *over)
{
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return true;
    if (n <= 0)
        return false;
    size_t room = sb->len < max ? max - sb->len : 0;
    sl_strbuf_append(sb, buf, (size_t)n < room ? (size_t)n : room);
    if ((size_t)n > room)
        *over = true;
    explicit_bzero(buf, sizeof(buf));
    return true;
}

int sl_cred_command(const char *what, const char *command, int64_t timeout_ms, char **out, sl_error *err)
{
    int po[2], pe[2];
    if (pipe2(po, O_CLOEXEC))
        return sl_error_set(err, SL_ERR_RETRY, "%s: pipe: %s", what, strerror(errno));
    if (pipe2(pe, O_CLOEXEC)) {
        close(po[0]);
        close(po[1]);
        return sl_error_set(err, SL_ERR_RETRY, "%s: pipe: %s", what, strerror(errno));
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, po[1], 1);
    posix_spawn_file_actions_adddup2(&fa, pe[1], 2);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    char *argv[] = {"/bin/sh", "-c", (char *)command, NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, "/bin/sh", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(po[1]);
    close(pe[1]);
    if (rc) {
        close(po[0]);
        close(pe[0]);
        return sl_error_set(err, SL_ERR_RETRY, "%s: cannot run /bin/sh: %s", what, strerror(rc));
    }
    sl_strbuf o = SL_STRBUF_INIT, e = SL_STRBUF_INIT;
    bool over = false, eover = false, open_o = true, open_e = true, late = false;
    int64_t deadline = now_ms() + timeout_ms;
    while (open_o || open_e) {
        int64_t left = deadline - now_ms();
        if (left <= 0) {
            late = true;
            break;
        }
        struct pollfd fds[2] = {{.fd = open_o ? po[0] : -1, .events = POLLIN},
                                {.fd = open_e ? pe[0] : -1, .events = POLLIN}};
        int n = poll(fds, 2, (int)left);
        if (n < 0 && errno != EINTR)
            break;
        if (n <= 0)
            continue;
        if (open_o && fds[0].revents)
            open_o = drain(po[0], &o, OUT_MAX, &over);
        if (open_e && fds[1].revents)
            open_e = drain(pe[0], &e, ERR_MAX, &eover);
    }
    close(po[0]);
    close(pe[0]);
    if (late)
        kill(pid, SIGKILL);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    while (o.len && (o.data[o.len - 1] == '\n' || o.data[o.len - 1] == '\r'))
        o.data[--o.len] = 0;
    rc = 0;
    if (o.len)
        sl_secret_rotate(what, o.data); /* before any message that could show it */
    const char *why = late ? "did not finish in time"
                      : over ? "printed more than 64KiB"
                      : !WIFEXITED(status) ? "was killed by a signal"
                      : WEXITSTATUS(status) ? "failed"
                      : !o.len ? "printed nothing"
                      : o.data && memchr(o.data, '\0', o.len) ? "printed a NUL byte"
                                                              : NULL;
    if (why) {
        while (e.len && (e.data[e.len - 1] == '\n' || e.data[e.len - 1] == '\r'))
            e.data[--e.len] = 0;
        rc = sl_error_set(err, SL_ERR_RETRY, "%s %s (exit status %d)%s%.*s", what, why, WIFEXITED(status) ? WEXITSTATUS(status) : -1, e.len ? ": " : "",
                          (int)(e.len < 300 ? e.len : 300), e.data ? e.data : "");
    }
    if (rc == 0)
        *out = sl_xstrdup(o.data);
    if (o.data)
        explicit_bzero(o.data, o.cap);
    sl_strbuf_free(&o);
    sl_strbuf_free(&e);
    return rc;
}

bool sl_cred_fresh(const sl_target_conf *t)
{
    return t->password_command || t->dsn_source || t->password_source;
}

int sl_cred_reread(const char *key, const char *raw, bool is_dsn, char **out, sl_error *err)
{
    if (sl_config_expand(raw, key, out, err)) {
        err->kind = SL_ERR_RETRY; /* a file being replaced: the next attempt reads it again */
        return -1;
    }
    char *pw = is_dsn ? sl_dsn_get(*out, "password") : sl_xstrdup(*out);
    sl_secret_rotate(key, pw);
    free(pw);
    return 0;
}

int sl_cred_now(const sl_target_conf *t, char **dsn, char **password, sl_error *err)
{
    *dsn = NULL;
    *password = NULL;
    char key[256];
    if (t->dsn_source) {
        snprintf(key, sizeof(key), "targets.%s.dsn", t->name);
        if (sl_cred_reread(key, t->dsn_source, true, dsn, err))
            return -1;
    } else if (t->dsn) {
        *dsn = sl_xstrdup(t->dsn);
    }
    int rc = 0;
    if (t->password_command) {
        snprintf(key, sizeof(key), "targets.%s.password_command", t->name);
        rc = sl_cred_command(key, t->password_command, t->connect_timeout_ms, password, err);
    } else if (t->password_source) {
        snprintf(key, sizeof(key), "targets.%s.password", t->name);
        rc = sl_cred_reread(key, t->password_source, false, password, err);
    }
    if (rc) {
        free(*dsn);
        *dsn = NULL;
    }
    return rc;
}
