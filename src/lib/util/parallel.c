#include "parallel.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "cleanup.h"

#define MAX_THREADS 16

typedef struct pool {
    size_t n;
    int (*fn)(void *data, size_t i, tug_error **err);
    void *data;
    atomic_size_t next;
    atomic_bool failed;
    pthread_mutex_t lock; /* err */
    tug_error *err;
} pool;

static void *worker(void *arg)
{
    pool *p = arg;
    for (;;) {
        size_t i = atomic_fetch_add(&p->next, 1);
        if (i >= p->n || atomic_load(&p->failed))
            return NULL;
        tug_error *err = NULL;
        if (p->fn(p->data, i, &err) < 0) {
            pthread_mutex_lock(&p->lock);
            if (p->err == NULL)
                p->err = steal_pointer(&err);
            pthread_mutex_unlock(&p->lock);
            tug_error_free(err);
            atomic_store(&p->failed, true);
            return NULL;
        }
    }
}

int tug_parallel_for(size_t n, size_t threads, int (*fn)(void *data, size_t i, tug_error **err),
                     void *data, tug_error **err)
{
    pool p = {.n = n, .fn = fn, .data = data};
    pthread_mutex_init(&p.lock, NULL);
    if (threads > n)
        threads = n;
    if (threads > MAX_THREADS)
        threads = MAX_THREADS;
    pthread_t tids[MAX_THREADS];
    size_t started = 0;
    for (; started < threads; started++)
        if (pthread_create(&tids[started], NULL, worker, &p) != 0)
            break;
    if (started == 0)
        worker(&p);
    for (size_t i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
    pthread_mutex_destroy(&p.lock);
    if (p.err == NULL)
        return 0;
    int r = p.err->errnum > 0 ? -p.err->errnum : -1;
    if (err != NULL)
        *err = p.err;
    else
        tug_error_free(p.err);
    return r;
}
