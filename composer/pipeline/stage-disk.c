/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "stages.h"
#include "vmcompose/hash.h"
#include "vmcompose/log.h"
#include "vmcompose/output.h"
#include "vmcompose/signals.h"

int stage_disk(BuildContext *ctx) {
        Diagnostics diag = {};
        int r;

        r = disk_layout_from_profile(ctx->profile, ctx->seed, &ctx->layout, &diag);
        diag_print(&diag);
        diag_done(&diag);
        if (r < 0)
                return r;

        const char *tmp;
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
        r = disk_build(&ctx->layout, &src, ctx->raw_path, tmp);
        if (r < 0)
                return r;

        _cleanup_free_ char *cmdline = disk_root_cmdline(&ctx->layout);
        log_info("disk: %llu MiB, %zu partitions, %s", (unsigned long long)(ctx->layout.size >> 20),
                 ctx->layout.n_partitions, cmdline ? cmdline : "no root partition");
        return 0;
}

int stage_outputs(BuildContext *ctx) {
        const Node *outputs = node_lookup(ctx->profile->tree, "outputs");
        OutputOptions opts = {.timestamp = ctx->timestamp};
        _cleanup_close_ int raw_fd = -1, root_fd = -1;
        int r;

        memcpy(opts.disk_uuid, ctx->layout.disk_uuid, sizeof(opts.disk_uuid));
        raw_fd = open(ctx->raw_path, O_RDONLY | O_CLOEXEC);
        if (raw_fd < 0)
                return log_error_errno(errno, "Failed to open %s: %m", ctx->raw_path);

        for (size_t i = 0; outputs && i < outputs->n_items; i++) {
                const char *name = outputs->items[i]->scalar;
                const OutputFormat *f = output_format_find(name);
                if (!f)
                        return log_error_errno(EOPNOTSUPP, "output format '%s' is unknown", name);
                _cleanup_free_ char *path = build_output_path(ctx, f->suffix);
                int src = raw_fd;
                if (f->write_tree) {
                        if (!ctx->root_dir)
                                return log_error_errno(EINVAL, "%s needs a root directory", name);
                        if (root_fd < 0)
                                root_fd = open(ctx->root_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                        if (root_fd < 0)
                                return log_error_errno(errno, "Failed to open %s: %m",
                                                       ctx->root_dir);
                        src = root_fd;
                }
                log_info("outputs: writing %s", path);
                r = -EXDEV;
                if (streq(f->name, "raw")) {
                        /* The raw image is already complete and synced in the temporary
                         * directory, on the same filesystem: link it into place, no copy. */
                        _cleanup_free_ char *tmp_link = xasprintf("%s.vmcompose-link", path);
                        (void)unlink(tmp_link);
                        r = link(ctx->raw_path, tmp_link) < 0 ? -errno : 0;
                        if (r == 0 && rename(tmp_link, path) < 0) {
                                r = -errno;
                                (void)unlink(tmp_link);
                        }
                }
                if (r == -EXDEV || r == -EPERM || r == -EMLINK)
                        r = output_write_file(f, src, ctx->layout.size, path, &opts);
                if (r < 0)
                        return log_error_errno(r, "Failed to write %s: %m", path);
                strv_extend(&ctx->written, path);
                log_notice("wrote %s", path);
                if (signals_interrupted())
                        return -EINTR;
        }
        return 0;
}
