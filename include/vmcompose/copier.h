/* SPDX-License-Identifier: MIT */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* A bounded queue of file-range copies done by a second thread (composer/core/copier.c): the
 * caller keeps walking a tree and allocating while the data moves. A job holds its source file
 * open; the job marked last closes it. */
typedef struct CopyJob {
        int fd;
        uint64_t from, len, to; /* len bytes of fd at from, to out_fd at to; 0: just close */
        bool dense;             /* no holes to look for: copy everything */
        bool last;              /* close fd after this job */
} CopyJob;

typedef struct Copier {
        pthread_t thread;
        pthread_mutex_t lock;
        pthread_cond_t more, room;
        CopyJob ring[128];
        size_t head, tail;
        bool done, running;
        int result;
        int out_fd;
} Copier;

/* Starts the thread; when it cannot be started, copier_push() copies in place. */
void copier_start(Copier *c, int out_fd);
/* Queues a job (waiting while the queue is full), or after a failure only closes its fd.
 * Returns the first error seen so far (0, or a negative errno: -EINTR on a signal). */
int copier_push(Copier *c, CopyJob j);
/* Waits for every queued copy, stops the thread; returns the first error. */
int copier_finish(Copier *c);
