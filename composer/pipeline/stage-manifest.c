/* SPDX-License-Identifier: MIT */
/* NAME.manifest.json: what the image holds and how it was made, next to the image. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "stages.h"
#include "vmcompose/diff.h"
#include "vmcompose/containers.h"
#include "vmcompose/hash.h"
#include "vmcompose/json.h"
#include "vmcompose/log.h"

static void write_packages(JsonWriter *w, const Plan *plan) {
        json_key(w, "packages");
        json_begin_array(w);
        for (size_t i = 0; i < plan->n_packages; i++) {
                const PlanPackage *p = &plan->packages[i];
                json_begin_object(w);
                json_kv(w, "name", p->name);
                json_kv(w, "version", p->version);
                json_kv(w, "architecture", p->architecture);
                json_kv(w, "source", p->source);
                json_kv_uint(w, "installed-size", p->installed_size);
                json_kv_uint(w, "size", p->size);
                json_kv(w, "sha256", p->sha256);
                json_kv(w, "repository", p->repo);
                json_kv(w, "section", p->section);
                json_kv(w, "priority", p->priority);
                json_kv(w, "reason", p->reason);
                json_end_object(w);
        }
        json_end_array(w);
}

/* The baked container images (containers:): each blob's digest and size. */
static void write_containers(JsonWriter *w, const OciImage *images, size_t n) {
        json_key(w, "containers");
        json_begin_array(w);
        for (size_t i = 0; i < n; i++) {
                const OciImage *img = &images[i];
                _cleanup_free_ char *purl = oci_purl(img);
                json_begin_object(w);
                json_kv(w, "name", img->name);
                json_kv(w, "image", img->ref);
                json_kv(w, "declared-at", img->where);
                json_kv(w, "architecture", img->architecture);
                json_kv(w, "os", img->os);
                json_kv(w, "purl", purl);
                json_kv(w, "manifest", img->manifest.digest);
                json_kv_uint(w, "manifest-size", img->manifest.size);
                json_kv(w, "config", img->config.digest);
                json_kv_uint(w, "config-size", img->config.size);
                json_key(w, "layers");
                json_begin_array(w);
                for (size_t l = 0; l < img->n_layers; l++) {
                        json_begin_object(w);
                        json_kv(w, "digest", img->layers[l].digest);
                        json_kv_uint(w, "size", img->layers[l].size);
                        json_kv(w, "media-type", img->layers[l].media_type);
                        json_end_object(w);
                }
                json_end_array(w);
                json_key(w, "run");
                if (img->run_set) {
                        json_begin_array(w);
                        for (char **a = img->run; a && *a; a++)
                                json_string(w, *a);
                        json_end_array(w);
                } else
                        json_null(w);
                json_end_object(w);
        }
        json_end_array(w);
}

static void write_disk(JsonWriter *w, const DiskLayout *l) {
        char u[37];
        json_key(w, "disk");
        json_begin_object(w);
        json_kv(w, "table", l->gpt ? "gpt" : "mbr");
        json_kv_uint(w, "size", l->size);
        if (l->gpt)
                uuid_format(l->disk_uuid, u);
        else
                snprintf(u, sizeof(u), "%02x%02x%02x%02x", l->disk_uuid[0], l->disk_uuid[1],
                         l->disk_uuid[2], l->disk_uuid[3]);
        json_kv(w, "id", u);
        json_key(w, "partitions");
        json_begin_array(w);
        for (size_t i = 0; i < l->n_partitions; i++) {
                const Partition *p = &l->partitions[i];
                json_begin_object(w);
                json_kv_uint(w, "number", i + 1);
                json_kv(w, "role", partition_role_to_string(p->role));
                json_kv(w, "fs", fs_type_to_string(p->fs));
                json_kv(w, "label", p->label);
                json_kv_uint(w, "offset", p->offset);
                json_kv_uint(w, "size", p->size);
                if (l->gpt) {
                        json_kv(w, "type", partition_gpt_type(p->role, l->architecture));
                        uuid_format(p->uuid, u);
                        json_kv(w, "partuuid", u);
                } else {
                        snprintf(u, sizeof(u), "0x%02x", partition_mbr_type(p->role));
                        json_kv(w, "type", u);
                }
                if (p->fs != FS_NONE) {
                        disk_fs_uuid(p, u);
                        json_kv(w, "fs-uuid", u);
                }
                json_kv(w, "declared-at", p->where);
                json_end_object(w);
        }
        json_end_array(w);
        json_end_object(w);
}

/* Each output's name, size and SHA-256: what the bytes are. Not the blocks the build host
 * allocated for a sparse output (st_blocks), which differ between two builds of the same bytes
 * with the host filesystem's timing. */
static int write_outputs(JsonWriter *w, char **written, char **hashes) {
        size_t n_hashes = strv_length(hashes);

        json_key(w, "outputs");
        json_begin_array(w);
        for (char **f = written; f && *f; f++) {
                size_t i = (size_t)(f - written);
                _cleanup_close_ int fd = open(*f, O_RDONLY | O_CLOEXEC);
                struct stat st;
                uint8_t d[SHA256_DIGEST_SIZE];
                char hex[65];
                if (fd < 0 || fstat(fd, &st) < 0)
                        return -errno;
                if (i < n_hashes)
                        snprintf(hex, sizeof(hex), "%s", hashes[i]);
                else {
                        int r = sha256_file(fd, d);
                        if (r < 0)
                                return r;
                        sha256_hex(d, hex);
                }
                _cleanup_free_ char *base = xstrdup(strrchr(*f, '/') ? strrchr(*f, '/') + 1 : *f);
                json_begin_object(w);
                json_kv(w, "file", base);
                json_kv_uint(w, "size", (uint64_t)st.st_size);
                json_kv(w, "sha256", hex);
                json_end_object(w);
        }
        json_end_array(w);
        return 0;
}

/* Where the root's bytes go, by package (the root's package database) and directory. 0 or a
 * negative errno (logged). */
static int size_collect(BuildContext *ctx, SizeReport *ret) {
        const char *root = ctx->root_path ? ctx->root_path : ctx->root_dir;
        _cleanup_close_ int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DiffTree tree = {};
        DiffOwners owners = {};

        if (fd < 0)
                return log_error_errno(errno, "manifest: cannot open %s: %m", root);
        int r = diff_tree_read_dir(fd, &tree);
        if (r < 0)
                return log_error_errno(r, "manifest: cannot read the root %s: %m", root);
        const DistroOps *ops = diff_tree_database(&tree); /* NULL: --root without one */
        if (ops)
                diff_owners_from_tree(ops, &tree, &owners);
        diff_size_report(&tree, &owners, ret);
        diff_owners_done(&owners);
        diff_tree_done(&tree);
        return 0;
}

/* NAME.size.svg: the size report as a treemap. */
static int write_size_svg(BuildContext *ctx, const SizeReport *size) {
        _cleanup_free_ char *path = build_output_path(ctx, "size.svg");
        _cleanup_free_ char *title =
                xasprintf("%s: the root by package and directory", ctx->image_name);
        _cleanup_free_ char *svg = size_report_svg(size, title);
        int r = write_file_atomic(path, svg, strlen(svg), 0644);
        if (r < 0)
                return log_error_errno(r, "manifest: cannot write %s: %m", path);
        strv_extend(&ctx->written, path);
        log_notice("wrote %s", path);
        return 0;
}

/* The manifest's "kernel": version, command line and what the modules stage kept. */
static void write_kernel(JsonWriter *w, const BuildContext *ctx) {
        json_key(w, "kernel");
        json_begin_object(w);
        json_kv(w, "version", ctx->kernel_version);
        json_kv(w, "cmdline", ctx->kernel_cmdline);
        /* kernel.modules: what the modules stage kept and removed under /lib/modules. */
        json_key(w, "modules");
        json_begin_object(w);
        json_kv(w, "keep", ctx->config.modules_only_target ? "target" : "all");
        if (ctx->config.modules_only_target && ctx->root_path) {
                json_kv_uint(w, "kept", ctx->modules_kept);
                json_kv_uint(w, "removed", ctx->modules_removed);
                json_kv_uint(w, "removed-bytes", ctx->modules_removed_bytes);
        }
        json_end_object(w);
        json_end_object(w);
}

int stage_manifest(BuildContext *ctx) {
        JsonWriter w = {.pretty = true};
        _cleanup_free_ char *path = build_output_path(ctx, "manifest.json");
        int r;

        json_begin_object(&w);
        json_kv(&w, "image", ctx->image_name);
        json_kv(&w, "profile", ctx->profile_path);
        json_kv(&w, "target", ctx->target);
        json_kv(&w, "architecture", ctx->config.architecture);
        json_key(&w, "layers");
        json_begin_array(&w);
        for (char **l = ctx->profile->layers; l && *l; l++)
                json_string(&w, *l);
        json_end_array(&w);
        json_kv(&w, "seed", ctx->seed);
        json_kv_uint(&w, "source-date-epoch", ctx->timestamp);
        if (ctx->root_path) {
                /* Built from packages: with --root, the tree given is an input the digest
                 * does not cover. */
                _cleanup_free_ char *digest = NULL, *failed = NULL;
                r = build_input_digest(ctx, &digest, &failed);
                if (r < 0) {
                        json_end_object(&w);
                        free(json_finish(&w));
                        return log_error_errno(r, "manifest: input digest: cannot read %s: %m",
                                               failed);
                }
                json_kv(&w, "input-digest", digest);
        }
        json_kv(&w, "root", ctx->root_path ? "built from packages" : "given with --root");
        write_kernel(&w, ctx);
        write_packages(&w, &ctx->plan);
        write_containers(&w, ctx->containers, ctx->n_containers);
        write_disk(&w, &ctx->config.layout);
        _cleanup_(size_report_done) SizeReport size = {};
        r = size_collect(ctx, &size);
        if (r < 0) {
                json_end_object(&w);
                free(json_finish(&w));
                return r;
        }
        json_key(&w, "size");
        size_report_json(&w, &size);
        r = write_outputs(&w, ctx->written, ctx->written_sha256);
        json_end_object(&w);
        _cleanup_free_ char *text = json_finish(&w);
        if (r < 0)
                return log_error_errno(r, "manifest: cannot hash the outputs: %m");
        r = write_file_atomic(path, text, strlen(text), 0644);
        if (r < 0)
                return log_error_errno(r, "manifest: cannot write %s: %m", path);
        strv_extend(&ctx->written, path);
        log_notice("wrote %s", path);
        return write_size_svg(ctx, &size);
}
