/* SPDX-License-Identifier: MIT */
/* Every output of a build at once (moved from composer/pipeline/stage-disk.c): one thread per
 * format, each writing its file atomically and hashing what it wrote, the raw image's digest
 * computed once and continued by every format that is the raw image plus a trailer. */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmcompose/hash.h"
#include "vmcompose/output.h"
#include "vmcompose/signals.h"

/* The raw image's digest state, made once (by the first job that needs it) and continued by
 * every output that is the raw image plus a trailer. */
typedef struct RawDigest {
        pthread_mutex_t lock;
        int fd;
        uint64_t size;
        Sha256 *state; /* NULL until made */
        int result;
} RawDigest;

static Sha256 *raw_digest_get(RawDigest *d, int *ret) {
        pthread_mutex_lock(&d->lock);
        if (!d->state && d->result == 0) {
                Sha256 *h = sha256_new();
                d->result = sha256_update_fd(h, d->fd, 0, d->size);
                if (d->result == 0)
                        d->state = h;
                else {
                        uint8_t scratch[SHA256_DIGEST_SIZE];
                        sha256_finish(h, scratch);
                }
        }
        Sha256 *c = d->state ? sha256_copy(d->state) : NULL;
        *ret = d->result;
        pthread_mutex_unlock(&d->lock);
        return c;
}

typedef struct Job {
        OutputJob *job;
        uint64_t size;
        OutputOptions opts;   /* the build's, with the job's compression */
        const char *raw_path; /* the finished raw image, linked into place for "raw" */
        RawDigest *raw_digest;
} Job;

/* Writes one output and hashes what it wrote (still in the page cache), for the manifest. */
static int job_run(Job *j) {
        int r = -EXDEV;

        if (streq(j->job->format->name, "raw")) {
                /* The raw image is already complete and synced in the temporary directory, on
                 * the same filesystem: link it into place, no copy. */
                _cleanup_free_ char *tmp_link = xasprintf("%s.vmcompose-link", j->job->path);
                (void)unlink(tmp_link);
                r = link(j->raw_path, tmp_link) < 0 ? -errno : 0;
                if (r == 0 && rename(tmp_link, j->job->path) < 0) {
                        r = -errno;
                        (void)unlink(tmp_link);
                }
        }
        if (r == -EXDEV || r == -EPERM || r == -EMLINK)
                r = output_write_file(j->job->format, j->job->source_fd, j->size, j->job->path,
                                      &j->opts);
        if (r < 0)
                return r;

        _cleanup_close_ int fd = open(j->job->path, O_RDONLY | O_CLOEXEC);
        uint8_t d[SHA256_DIGEST_SIZE];
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0)
                return -errno;
        Sha256 *h = NULL;
        if (j->job->format->raw_prefix && (uint64_t)st.st_size >= j->size)
                h = raw_digest_get(j->raw_digest, &r); /* then only the trailer to read */
        else
                h = sha256_new();
        if (h && r == 0)
                r = sha256_update_fd(h, fd, j->job->format->raw_prefix ? j->size : 0,
                                     (uint64_t)st.st_size -
                                             (j->job->format->raw_prefix ? j->size : 0));
        if (h)
                sha256_finish(h, d);
        if (r < 0)
                return r;
        sha256_hex(d, j->job->sha256);
        return 0;
}

typedef struct OutputQueue {
        Job *jobs;
        size_t n_jobs, next;
        pthread_mutex_t lock;
} OutputQueue;

static void *output_worker(void *userdata) {
        OutputQueue *q = userdata;

        for (;;) {
                pthread_mutex_lock(&q->lock);
                Job *j = q->next < q->n_jobs ? &q->jobs[q->next++] : NULL;
                pthread_mutex_unlock(&q->lock);
                if (!j)
                        return NULL;
                j->job->result = signals_interrupted() ? -EINTR : job_run(j);
        }
}

int output_write_all(OutputJob *jobs, size_t n, const char *raw_path, int raw_fd, uint64_t size,
                     const OutputOptions *opts) {
        RawDigest raw_digest = {.fd = raw_fd, .size = size};
        OutputQueue q = {.jobs = xcalloc(n + 1, sizeof(Job)), .n_jobs = n};
        for (size_t i = 0; i < n; i++) {
                q.jobs[i] = (Job){.job = &jobs[i],
                                  .size = size,
                                  .opts = *opts,
                                  .raw_path = raw_path,
                                  .raw_digest = &raw_digest};
                q.jobs[i].opts.compression = jobs[i].compression;
        }
        pthread_mutex_init(&raw_digest.lock, NULL);

        /* The writers read the same raw image and write separate files: one thread each (a
         * writer waits on fsync as much as it computes; there are at most six formats). Every
         * writer uses pread/pwrite on its own offsets, so sharing raw_fd is safe. */
        size_t n_threads = n;
        pthread_t *threads = xcalloc(n_threads + 1, sizeof(pthread_t));
        size_t started = 0;
        pthread_mutex_init(&q.lock, NULL);
        for (; started + 1 < n_threads; started++)
                if (pthread_create(&threads[started], NULL, output_worker, &q) != 0)
                        break;
        output_worker(&q); /* this thread works too */
        for (size_t t = 0; t < started; t++)
                pthread_join(threads[t], NULL);
        pthread_mutex_destroy(&q.lock);
        free(threads);
        free(q.jobs);

        if (raw_digest.state) {
                uint8_t scratch[SHA256_DIGEST_SIZE];
                sha256_finish(raw_digest.state, scratch);
        }
        pthread_mutex_destroy(&raw_digest.lock);
        int r = 0;
        for (size_t i = 0; i < n && r == 0; i++)
                r = jobs[i].result;
        return r;
}
