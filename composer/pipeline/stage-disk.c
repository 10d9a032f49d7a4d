/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "stages.h"
#include "vmcompose/hash.h"
#include "vmcompose/log.h"
#include "vmcompose/output.h"
#include "vmcompose/signals.h"

int stage_disk(BuildContext *ctx) {
        const char *tmp;
        int r;

        diag_print(&ctx->config.layout_diag);
        if (ctx->config.layout_error < 0)
                return ctx->config.layout_error;
        r = build_tmp_dir(ctx, &tmp);
        if (r < 0)
                return r;
        ctx->raw_path = path_join(tmp, "disk.raw");
        DiskSources src = {
                .root_dir = ctx->root_dir,
                .esp_dir = ctx->esp_dir,
                .timestamp = ctx->timestamp,
                .seed = ctx->seed,
        };
        r = disk_build(&ctx->config.layout, &src, ctx->raw_path, tmp);
        if (r < 0)
                return r;

        _cleanup_free_ char *cmdline = disk_root_cmdline(&ctx->config.layout);
        log_info("disk: %llu MiB, %zu partitions, %s",
                 (unsigned long long)(ctx->config.layout.size >> 20),
                 ctx->config.layout.n_partitions, cmdline ? cmdline : "no root partition");
        return 0;
}

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

typedef struct OutputJob {
        const OutputFormat *format;
        char *path;
        int source_fd;
        uint64_t size;
        const OutputOptions *opts;
        const char *raw_path; /* the finished raw image, linked into place for "raw" */
        RawDigest *raw_digest;
        int result;
        char sha256[2 * SHA256_DIGEST_SIZE + 1];
} OutputJob;

/* Writes one output and hashes what it wrote (still in the page cache), for the manifest. */
static int output_job_run(OutputJob *j) {
        int r = -EXDEV;

        if (streq(j->format->name, "raw")) {
                /* The raw image is already complete and synced in the temporary directory, on
                 * the same filesystem: link it into place, no copy. */
                _cleanup_free_ char *tmp_link = xasprintf("%s.vmcompose-link", j->path);
                (void)unlink(tmp_link);
                r = link(j->raw_path, tmp_link) < 0 ? -errno : 0;
                if (r == 0 && rename(tmp_link, j->path) < 0) {
                        r = -errno;
                        (void)unlink(tmp_link);
                }
        }
        if (r == -EXDEV || r == -EPERM || r == -EMLINK)
                r = output_write_file(j->format, j->source_fd, j->size, j->path, j->opts);
        if (r < 0)
                return r;

        _cleanup_close_ int fd = open(j->path, O_RDONLY | O_CLOEXEC);
        uint8_t d[SHA256_DIGEST_SIZE];
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0)
                return -errno;
        Sha256 *h = NULL;
        if (j->format->raw_prefix && (uint64_t)st.st_size >= j->size)
                h = raw_digest_get(j->raw_digest, &r); /* then only the trailer to read */
        else
                h = sha256_new();
        if (h && r == 0)
                r = sha256_update_fd(h, fd, j->format->raw_prefix ? j->size : 0,
                                     (uint64_t)st.st_size - (j->format->raw_prefix ? j->size : 0));
        if (h)
                sha256_finish(h, d);
        if (r < 0)
                return r;
        sha256_hex(d, j->sha256);
        return 0;
}

typedef struct OutputQueue {
        OutputJob *jobs;
        size_t n_jobs, next;
        pthread_mutex_t lock;
} OutputQueue;

static void *output_worker(void *userdata) {
        OutputQueue *q = userdata;

        for (;;) {
                pthread_mutex_lock(&q->lock);
                OutputJob *j = q->next < q->n_jobs ? &q->jobs[q->next++] : NULL;
                pthread_mutex_unlock(&q->lock);
                if (!j)
                        return NULL;
                j->result = signals_interrupted() ? -EINTR : output_job_run(j);
        }
}

int stage_outputs(BuildContext *ctx) {
        OutputOptions opts = {.timestamp = ctx->timestamp};
        _cleanup_close_ int raw_fd = -1, root_fd = -1;
        size_t n = strv_length(ctx->config.outputs);
        OutputQueue q = {.jobs = xcalloc(n + 1, sizeof(OutputJob)), .n_jobs = n};
        RawDigest raw_digest = {.size = ctx->config.layout.size};
        int r = 0;

        memcpy(opts.disk_uuid, ctx->config.layout.disk_uuid, sizeof(opts.disk_uuid));
        raw_fd = open(ctx->raw_path, O_RDONLY | O_CLOEXEC);
        if (raw_fd < 0) {
                r = log_error_errno(errno, "Failed to open %s: %m", ctx->raw_path);
                goto finish;
        }
        raw_digest.fd = raw_fd;
        pthread_mutex_init(&raw_digest.lock, NULL);

        for (size_t i = 0; i < n; i++) {
                const char *name = ctx->config.outputs[i];
                const OutputFormat *f = output_format_find(name);
                if (!f) {
                        r = log_error_errno(EOPNOTSUPP, "output format '%s' is unknown", name);
                        goto finish;
                }
                int src = raw_fd;
                if (f->write_tree) {
                        if (!ctx->root_dir) {
                                r = log_error_errno(EINVAL, "%s needs a root directory", name);
                                goto finish;
                        }
                        if (root_fd < 0)
                                root_fd = open(ctx->root_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                        if (root_fd < 0) {
                                r = log_error_errno(errno, "Failed to open %s: %m", ctx->root_dir);
                                goto finish;
                        }
                        src = root_fd;
                }
                q.jobs[i] = (OutputJob){
                        .format = f,
                        .path = build_output_path(ctx, f->suffix),
                        .source_fd = src,
                        .size = ctx->config.layout.size,
                        .opts = &opts,
                        .raw_path = ctx->raw_path,
                        .raw_digest = &raw_digest,
                };
                log_info("outputs: writing %s", q.jobs[i].path);
        }

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

        for (size_t i = 0; i < n; i++) {
                OutputJob *j = &q.jobs[i];
                if (j->result < 0 && r == 0)
                        r = j->result == -EINTR
                                    ? -EINTR
                                    : log_error_errno(j->result, "Failed to write %s: %m", j->path);
                if (j->result == 0) {
                        /* Written: listed, so that a later failure removes it again. */
                        strv_extend(&ctx->written, j->path);
                        strv_extend(&ctx->written_sha256, j->sha256);
                        log_notice("wrote %s", j->path);
                }
        }
        if (r == 0 && signals_interrupted())
                r = -EINTR;
finish:
        if (raw_digest.state) {
                uint8_t scratch[SHA256_DIGEST_SIZE];
                sha256_finish(raw_digest.state, scratch);
        }
        if (raw_fd >= 0)
                pthread_mutex_destroy(&raw_digest.lock);
        for (size_t i = 0; i < n; i++)
                free(q.jobs[i].path);
        free(q.jobs);
        return r;
}
