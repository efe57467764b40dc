/* A few jobs on a few threads: pull's layers, push's blobs. */
#pragma once
#include <stddef.h>

#include "error.h"

/* fn(data, i, err) for every i below n, on up to threads threads (inline when none starts); no
 * job starts after one failed, and the first failure's error goes into *err. fn is called from
 * several threads at once. */
int tug_parallel_for(size_t n, size_t threads, int (*fn)(void *data, size_t i, tug_error **err),
                     void *data, tug_error **err);
