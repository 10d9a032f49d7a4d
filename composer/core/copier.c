/* SPDX-License-Identifier: MIT */
/* A second thread that copies file ranges while the caller goes on (include/vmcompose/copier.h). */
#include <errno.h>
#include <unistd.h>

#include "vmcompose/copier.h"
#include "vmcompose/macro.h"
#include "vmcompose/signals.h"
#include "vmcompose/sparse.h"

#define COPY_QUEUE ELEMENTSOF(((Copier *)NULL)->ring)

static void *copier_main(void *userdata) {
        Copier *c = userdata;
        for (;;) {
                pthread_mutex_lock(&c->lock);
                while (c->head == c->tail && !c->done)
                        pthread_cond_wait(&c->more, &c->lock);
                if (c->head == c->tail) {
                        pthread_mutex_unlock(&c->lock);
                        return NULL;
                }
                CopyJob j = c->ring[c->head++ % COPY_QUEUE];
                bool failed = c->result < 0;
                pthread_cond_signal(&c->room);
                pthread_mutex_unlock(&c->lock);

                int r = 0;
                if (!failed && j.len > 0)
                        r = signals_interrupted() ? -EINTR
                            : j.dense             ? copy_data(j.fd, j.from, j.len, c->out_fd, j.to)
                                      : sparse_copy(j.fd, j.from, j.len, c->out_fd, j.to);
                if (j.last)
                        close(j.fd);
                if (r < 0) {
                        pthread_mutex_lock(&c->lock);
                        if (c->result == 0)
                                c->result = r;
                        pthread_mutex_unlock(&c->lock);
                }
        }
}

void copier_start(Copier *c, int out_fd) {
        *c = (Copier){.out_fd = out_fd};
        pthread_mutex_init(&c->lock, NULL);
        pthread_cond_init(&c->more, NULL);
        pthread_cond_init(&c->room, NULL);
        c->running = pthread_create(&c->thread, NULL, copier_main, c) == 0;
}

int copier_push(Copier *c, CopyJob j) {
        pthread_mutex_lock(&c->lock);
        while (c->running && c->tail - c->head == COPY_QUEUE && c->result == 0)
                pthread_cond_wait(&c->room, &c->lock);
        int r = c->result;
        if (c->running && r == 0) {
                c->ring[c->tail++ % COPY_QUEUE] = j;
                pthread_cond_signal(&c->more);
                pthread_mutex_unlock(&c->lock);
                return 0;
        }
        pthread_mutex_unlock(&c->lock);
        if (r == 0 && j.len > 0)
                r = j.dense ? copy_data(j.fd, j.from, j.len, c->out_fd, j.to)
                            : sparse_copy(j.fd, j.from, j.len, c->out_fd, j.to);
        if (j.last)
                close(j.fd);
        return r;
}

int copier_finish(Copier *c) {
        if (c->running) {
                pthread_mutex_lock(&c->lock);
                c->done = true;
                pthread_cond_signal(&c->more);
                pthread_mutex_unlock(&c->lock);
                pthread_join(c->thread, NULL);
                c->running = false;
        }
        pthread_mutex_destroy(&c->lock);
        pthread_cond_destroy(&c->more);
        pthread_cond_destroy(&c->room);
        return c->result;
}
