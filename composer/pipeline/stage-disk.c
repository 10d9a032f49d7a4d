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

/* The jobs for the profile's outputs: each format's path and source (the raw image, or the
 * root for a format made from the tree). 0 or a negative errno (logged). */
static int output_jobs(BuildContext *ctx, int raw_fd, int *root_fd, OutputJob *jobs) {
        for (size_t i = 0; ctx->config.outputs && ctx->config.outputs[i]; i++) {
                const char *name = ctx->config.outputs[i];
                const OutputFormat *f = output_format_find(name);
                if (!f)
                        return log_error_errno(EOPNOTSUPP, "output format '%s' is unknown", name);
                int src = raw_fd;
                if (f->write_tree) {
                        if (!ctx->root_dir)
                                return log_error_errno(EINVAL, "%s needs a root directory", name);
                        if (*root_fd < 0)
                                *root_fd = open(ctx->root_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                        if (*root_fd < 0)
                                return log_error_errno(errno, "Failed to open %s: %m",
                                                       ctx->root_dir);
                        src = *root_fd;
                }
                OutputCompression c =
                        output_compression_from_string(ctx->config.output_compression[i]);
                if (c < 0 || (c != OUTPUT_COMPRESSION_NONE && !f->compression))
                        return log_error_errno(EOPNOTSUPP, "%s cannot be compressed with '%s'",
                                               name, ctx->config.output_compression[i]);
                jobs[i] = (OutputJob){.format = f,
                                      .path = build_output_path(ctx, f->suffix),
                                      .source_fd = src,
                                      .compression = c};
                log_info("outputs: writing %s%s%s", jobs[i].path,
                         c != OUTPUT_COMPRESSION_NONE ? ", compressed with " : "",
                         c != OUTPUT_COMPRESSION_NONE ? output_compression_to_string(c) : "");
        }
        return 0;
}

int stage_outputs(BuildContext *ctx) {
        OutputOptions opts = {.timestamp = ctx->timestamp};
        _cleanup_close_ int raw_fd = -1, root_fd = -1;
        size_t n = strv_length(ctx->config.outputs);
        OutputJob *jobs = xcalloc(n + 1, sizeof(OutputJob));
        int r = 0;

        memcpy(opts.disk_uuid, ctx->config.layout.disk_uuid, sizeof(opts.disk_uuid));
        raw_fd = open(ctx->raw_path, O_RDONLY | O_CLOEXEC);
        if (raw_fd < 0)
                r = log_error_errno(errno, "Failed to open %s: %m", ctx->raw_path);
        if (r == 0)
                r = output_jobs(ctx, raw_fd, &root_fd, jobs);
        if (r == 0) {
                (void)output_write_all(jobs, n, ctx->raw_path, raw_fd, ctx->config.layout.size,
                                       &opts);
                for (size_t i = 0; i < n; i++) {
                        OutputJob *j = &jobs[i];
                        if (j->result < 0 && r == 0)
                                r = j->result == -EINTR
                                            ? -EINTR
                                            : log_error_errno(j->result, "Failed to write %s: %m",
                                                              j->path);
                        if (j->result == 0) {
                                /* Written: listed, so that a later failure removes it again. */
                                strv_extend(&ctx->written, j->path);
                                strv_extend(&ctx->written_sha256, j->sha256);
                                log_notice("wrote %s", j->path);
                        }
                }
        }
        if (r == 0 && signals_interrupted())
                r = -EINTR;
        for (size_t i = 0; i < n; i++)
                free((char *)jobs[i].path);
        free(jobs);
        return r;
}
