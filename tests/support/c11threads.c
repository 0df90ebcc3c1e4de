/* c11threads.c - ThreadSanitizer builds only: the C11 <threads.h> calls
 * mapped onto POSIX threads, for LD_PRELOAD (`meson test --setup tsan`,
 * the default setup of a -Db_sanitize=thread build).
 *
 * Debian's librdkafka creates its threads with thrd_create and locks with
 * mtx_lock/cnd_wait.  glibc implements those on its internal pthread
 * functions, which TSan's interceptors never see: to TSan, librdkafka's
 * threads did not exist and its locks did not order anything, so every
 * hand-over between a librdkafka thread and sluice's (delivery reports,
 * rebalance and statistics callbacks, queues) is reported as a race.  With
 * this library first in the lookup order, librdkafka's calls land here and
 * go through the pthread functions TSan intercepts.  glibc's thrd_t,
 * mtx_t, cnd_t, tss_t and once_flag have the size and layout of their
 * pthread counterparts (glibc builds the C11 calls on them the same way). */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <threads.h>

_Static_assert(sizeof(thrd_t) == sizeof(pthread_t), "thrd_t is a pthread_t");
_Static_assert(sizeof(mtx_t) == sizeof(pthread_mutex_t), "mtx_t is a pthread_mutex_t");
_Static_assert(sizeof(cnd_t) == sizeof(pthread_cond_t), "cnd_t is a pthread_cond_t");
_Static_assert(sizeof(tss_t) == sizeof(pthread_key_t), "tss_t is a pthread_key_t");
_Static_assert(sizeof(once_flag) == sizeof(pthread_once_t), "once_flag is a pthread_once_t");

static int result(int e)
{
    switch (e) {
    case 0: return thrd_success;
    case ENOMEM: return thrd_nomem;
    case ETIMEDOUT: return thrd_timedout;
    case EBUSY: return thrd_busy;
    default: return thrd_error;
    }
}

typedef struct start {
    thrd_start_t fn;
    void *arg;
} start;

static void *run(void *p)
{
    start s = *(start *)p;
    free(p);
    return (void *)(intptr_t)s.fn(s.arg);
}

int thrd_create(thrd_t *thr, thrd_start_t fn, void *arg)
{
    start *s = malloc(sizeof(*s));
    if (!s)
        return thrd_nomem;
    s->fn = fn;
    s->arg = arg;
    int e = pthread_create((pthread_t *)thr, NULL, run, s);
    if (e)
        free(s);
    return result(e);
}

int thrd_join(thrd_t thr, int *res)
{
    void *r = NULL;
    int e = pthread_join((pthread_t)thr, &r);
    if (!e && res)
        *res = (int)(intptr_t)r;
    return result(e);
}

int thrd_detach(thrd_t thr)
{
    return result(pthread_detach((pthread_t)thr));
}

thrd_t thrd_current(void)
{
    return (thrd_t)pthread_self();
}

int thrd_equal(thrd_t a, thrd_t b)
{
    return pthread_equal((pthread_t)a, (pthread_t)b);
}

_Noreturn void thrd_exit(int res)
{
    pthread_exit((void *)(intptr_t)res);
}

int mtx_init(mtx_t *m, int type)
{
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    if (type & mtx_recursive)
        pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
    int e = pthread_mutex_init((pthread_mutex_t *)m, &a);
    pthread_mutexattr_destroy(&a);
    return result(e);
}

int mtx_lock(mtx_t *m)
{
    return result(pthread_mutex_lock((pthread_mutex_t *)m));
}

int mtx_trylock(mtx_t *m)
{
    return result(pthread_mutex_trylock((pthread_mutex_t *)m));
}

int mtx_timedlock(mtx_t *restrict m, const struct timespec *restrict ts)
{
    return result(pthread_mutex_timedlock((pthread_mutex_t *)m, ts));
}

int mtx_unlock(mtx_t *m)
{
    return result(pthread_mutex_unlock((pthread_mutex_t *)m));
}

void mtx_destroy(mtx_t *m)
{
    pthread_mutex_destroy((pthread_mutex_t *)m);
}

int cnd_init(cnd_t *c)
{
    return result(pthread_cond_init((pthread_cond_t *)c, NULL));
}

int cnd_signal(cnd_t *c)
{
    return result(pthread_cond_signal((pthread_cond_t *)c));
}

int cnd_broadcast(cnd_t *c)
{
    return result(pthread_cond_broadcast((pthread_cond_t *)c));
}

int cnd_wait(cnd_t *c, mtx_t *m)
{
    return result(pthread_cond_wait((pthread_cond_t *)c, (pthread_mutex_t *)m));
}

int cnd_timedwait(cnd_t *restrict c, mtx_t *restrict m, const struct timespec *restrict ts)
{
    return result(pthread_cond_timedwait((pthread_cond_t *)c, (pthread_mutex_t *)m, ts));
}

void cnd_destroy(cnd_t *c)
{
    pthread_cond_destroy((pthread_cond_t *)c);
}

int tss_create(tss_t *key, tss_dtor_t dtor)
{
    return result(pthread_key_create((pthread_key_t *)key, dtor));
}

void *tss_get(tss_t key)
{
    return pthread_getspecific((pthread_key_t)key);
}

int tss_set(tss_t key, void *val)
{
    return result(pthread_setspecific((pthread_key_t)key, val));
}

void tss_delete(tss_t key)
{
    pthread_key_delete((pthread_key_t)key);
}

void call_once(once_flag *flag, void (*fn)(void))
{
    pthread_once((pthread_once_t *)flag, fn);
}
