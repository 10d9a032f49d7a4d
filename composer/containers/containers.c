/* SPDX-License-Identifier: MIT */
/* The profile's containers: read and verified before any work (containers_load), and baked
 * into the root (containers_bake).
 *
 * How the images reach containerd: written into its own store, as containerd itself leaves an
 * image it has pulled or imported, so that at its first start `ctr images ls` lists them with no
 * import step and no network: the blobs in the local content store
 * (io.containerd.content.v1.content/blobs/sha256/HEX, plain files named by digest) and their
 * records in its metadata database, meta.db (a bbolt file, composer/containers/bolt.c, in
 * containerd 1.6's schema, composer/containers/containerd.c). The records are what makes them
 * images to containerd: blobs meta.db does not list are garbage to it. The schema is
 * containerd's internal one (metadata/, schema v1, dbVersion 3, unchanged from 1.4 to 1.7): a
 * containerd with a newer dbVersion migrates the file at its first start as it would its own. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmcompose/bolt.h"
#include "vmcompose/containers.h"
#include "vmcompose/hash.h"
#include "vmcompose/log.h"
#include "vmcompose/rootfs.h"
#include "vmcompose/util.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct archive *, archive_read_free);

/* The members of an OCI archive vmcompose reads: the layout's own files and its blobs; any
 * other member (a Docker archive's manifest.json aside) is skipped, so nothing outside dir is
 * ever written whatever the names in the archive. */
static bool wanted_member(const char *name) {
        if (strncmp(name, "./", 2) == 0)
                name += 2;
        if (streq(name, "oci-layout") || streq(name, "index.json") || streq(name, "manifest.json"))
                return true;
        if (strncmp(name, "blobs/sha256/", 13) != 0)
                return false;
        _cleanup_free_ char *digest = xasprintf("sha256:%s", name + 13);
        return oci_digest_check(digest) == 0;
}

/* Unpacks the OCI layout inside the archive at path into dir. 0 or a negative errno, with the
 * reason in *ret_error. */
static int unpack_archive(const char *path, const char *dir, char **ret_error) {
        _cleanup_(archive_read_freep) struct archive *a = archive_read_new();
        archive_read_support_format_tar(a);
        archive_read_support_filter_all(a);
        if (archive_read_open_filename(a, path, 1 << 16) != ARCHIVE_OK) {
                *ret_error = xasprintf("%s: %s", path, archive_error_string(a));
                return -EBADMSG;
        }
        _cleanup_free_ char *blobs = path_join(dir, "blobs/sha256");
        int r = mkdir_p(blobs);
        if (r < 0) {
                *ret_error = xasprintf("%s: %s", blobs, strerror(-r));
                return r;
        }
        struct archive_entry *e;
        while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
                const char *name = archive_entry_pathname(e);
                if (!name || archive_entry_filetype(e) != AE_IFREG || !wanted_member(name))
                        continue;
                _cleanup_free_ char *out = path_join(dir, name);
                _cleanup_close_ int fd =
                        open(out, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
                if (fd < 0) {
                        r = -errno;
                        *ret_error = xasprintf("%s: %s", out, strerror(errno));
                        return r;
                }
                if (archive_read_data_into_fd(a, fd) != ARCHIVE_OK) {
                        *ret_error = xasprintf("%s: %s: %s", path, name, archive_error_string(a));
                        return -EBADMSG;
                }
        }
        if (r != ARCHIVE_EOF) {
                *ret_error = xasprintf("%s: %s", path, archive_error_string(a));
                return -EBADMSG;
        }
        return 0;
}

static int load_one(const ProfileContainer *c, const char *arch, const char *tmp_dir,
                    OciImage *img) {
        const char *name = c->name.value, *path = c->path.value;
        _cleanup_free_ char *error = NULL;
        const Mark *blame = &c->digest.mark;
        int r;

        img->name = xstrdup(name);
        img->ref =
                c->image.value ? xstrdup(c->image.value) : xasprintf("localhost/%s:latest", name);
        img->where = xasprintf("%s:%u", c->mark.file, c->mark.line);
        img->path = xstrdup(path);
        img->run_set = c->run_set;
        for (char **a = c->run; a && *a; a++)
                strv_extend(&img->run, *a);

        struct stat st;
        if (stat(path, &st) < 0) {
                r = -errno;
                error = xasprintf("%s: %s", path, strerror(errno));
                blame = &c->path.mark;
        } else if (S_ISDIR(st.st_mode)) {
                img->layout_dir = xstrdup(path);
                r = 0;
        } else {
                _cleanup_free_ char *sub = xasprintf("containers/%s", name);
                img->layout_dir = path_join(tmp_dir, sub);
                r = unpack_archive(path, img->layout_dir, &error);
                if (r < 0)
                        blame = &c->path.mark;
        }
        if (r >= 0) {
                r = oci_layout_verify(img->layout_dir, c->digest.value, arch, img, &error);
                if (r == -ENOENT && !img->manifest.digest)
                        blame = &c->digest.mark;
        }
        if (r < 0)
                log_error("%s:%u:%u: containers[%s]: %s", blame->file, blame->line, blame->column,
                          name, error ? error : strerror(-r));
        return r;
}

int containers_load(const ProfileContainer *list, size_t n, const char *arch, const char *tmp_dir,
                    OciImage **ret, size_t *ret_n) {
        const char *oci_arch = oci_architecture_from_debian(arch);
        if (n > 0 && !oci_arch)
                return log_error_errno(EINVAL, "containers: no OCI name for the architecture %s",
                                       arch);
        OciImage *images = xcalloc(n + 1, sizeof(OciImage));
        int r = 0;
        for (size_t i = 0; i < n; i++) {
                int k = load_one(&list[i], oci_arch, tmp_dir, &images[i]);
                if (k < 0 && r == 0)
                        r = k;
        }
        if (r < 0) {
                oci_images_free(images, n);
                return r;
        }
        *ret = images;
        *ret_n = n;
        return 0;
}

/* Copies the blob d from the layout dir src_fd to the file name in dst_fd (0444, as
 * containerd's local store leaves committed blobs), checking its size and SHA-256 again so that a
 * layout changed since it was verified is not baked: -EILSEQ then. */
static int copy_blob(int src_fd, int dst_fd, const OciDescriptor *d) {
        _cleanup_free_ char *rel = xasprintf("blobs/sha256/%s", d->digest + 7);
        _cleanup_close_ int in = openat(src_fd, rel, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (in < 0)
                return errno == ENOENT ? -EILSEQ : -errno;
        _cleanup_close_ int out = openat(
                dst_fd, d->digest + 7, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0444);
        if (out < 0)
                return -errno;
        Sha256 *h = sha256_new();
        char buf[1 << 16];
        uint64_t done = 0;
        for (;;) {
                ssize_t k = read(in, buf, sizeof(buf));
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0) {
                        int r = k < 0 ? -errno : 0;
                        uint8_t md[SHA256_DIGEST_SIZE];
                        char hex[2 * SHA256_DIGEST_SIZE + 1];
                        sha256_finish(h, md);
                        sha256_hex(md, hex);
                        if (r < 0)
                                return r;
                        if (fchmod(out, 0444) < 0)
                                return -errno;
                        return done == d->size && streq(hex, d->digest + 7) ? 0 : -EILSEQ;
                }
                sha256_update(h, buf, (size_t)k);
                done += (uint64_t)k;
                int r = done > d->size ? -EILSEQ : write_all(out, buf, (size_t)k);
                if (r < 0) {
                        sha256_finish(h, (uint8_t[SHA256_DIGEST_SIZE]){});
                        return r;
                }
        }
}

/* Every blob of img into the content store's blobs/sha256 directory blobs_fd. */
static int copy_blobs(int blobs_fd, const OciImage *img) {
        _cleanup_close_ int src_fd = open(img->layout_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (src_fd < 0)
                return -errno;
        int r = copy_blob(src_fd, blobs_fd, &img->manifest);
        if (r == 0)
                r = copy_blob(src_fd, blobs_fd, &img->config);
        for (size_t i = 0; r == 0 && i < img->n_layers; i++)
                r = copy_blob(src_fd, blobs_fd, &img->layers[i]);
        return r;
}

/* One ExecStart= argument, quoted for systemd: "..." with \ and " escaped, % and $ doubled so
 * that systemd substitutes nothing. */
static void unit_quote(Buffer *b, const char *s) {
        buffer_putc(b, '"');
        for (const char *p = s; *p; p++) {
                if (*p == '"' || *p == '\\')
                        buffer_putc(b, '\\');
                else if (*p == '%' || *p == '$')
                        buffer_putc(b, *p);
                buffer_putc(b, *p);
        }
        buffer_putc(b, '"');
}

static int write_unit(int root_fd, const char *unit, const char *text) {
        _cleanup_free_ char *path = path_join("etc/systemd/system", unit);
        _cleanup_free_ char *wants = path_join("etc/systemd/system/multi-user.target.wants", unit);
        _cleanup_free_ char *target = path_join("/etc/systemd/system", unit);
        int r = root_write_file(root_fd, path, text, strlen(text), 0644, ROOT_WRITE_MKDIR);
        if (r == 0)
                r = root_symlink(root_fd, target, wants, ROOT_WRITE_MKDIR);
        return r;
}

static char *run_unit(const OciImage *img) {
        Buffer b = {};
        buffer_printf(&b,
                      "# Written by vmcompose from the profile's containers[%s].run (%s).\n"
                      "[Unit]\n"
                      "Description=Container %s (%s)\n"
                      "After=containerd.service\n"
                      "Requires=containerd.service\n\n"
                      "[Service]\n"
                      "ExecStartPre=/usr/bin/ctr --namespace " CONTAINERD_NAMESPACE " images ls\n"
                      "ExecStartPre=-/usr/bin/ctr --namespace " CONTAINERD_NAMESPACE
                      " containers delete %s\n"
                      "ExecStart=/usr/bin/ctr --namespace " CONTAINERD_NAMESPACE " run --rm %s %s",
                      img->name, img->where, img->name, img->ref, img->name, img->ref, img->name);
        for (char **a = img->run; a && *a; a++) {
                buffer_putc(&b, ' ');
                unit_quote(&b, *a);
        }
        buffer_printf(&b, "\nStandardOutput=journal+console\n"
                          "StandardError=journal\n\n"
                          "[Install]\n"
                          "WantedBy=multi-user.target\n");
        return buffer_steal(&b);
}

/* containerd's directories, with the modes containerd gives them: its root and the metadata
 * plugin's 0711, the content store's 0755. */
static int make_store_dirs(int root_fd, int *ret_blobs_fd) {
        static const struct {
                const char *path;
                mode_t mode;
        } dirs[] = {
                {CONTAINERD_ROOT, 0711},
                {CONTAINERD_CONTENT_DIR "/blobs/sha256", 0755},
                {CONTAINERD_META_DIR, 0711},
        };
        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                int r = root_mkdir_p(root_fd, dirs[i].path, dirs[i].mode);
                if (r < 0)
                        return r;
        }
        int fd = root_open(root_fd, CONTAINERD_CONTENT_DIR "/blobs/sha256", O_RDONLY | O_DIRECTORY,
                           0);
        if (fd < 0)
                return fd;
        *ret_blobs_fd = fd;
        return 0;
}

static int write_meta_db(int root_fd, const OciImage *images, size_t n, uint64_t epoch) {
        _cleanup_(bolt_bucket_freep) BoltBucket *tree = NULL;
        _cleanup_free_ uint8_t *db = NULL;
        size_t size;
        /* bbolt maps the file: its integers are in the byte order of the image's machine. */
        bool big_endian = streq(images[0].architecture, "s390x");
        int r = containerd_meta_build(images, n, epoch, &tree);
        if (r == 0)
                r = bolt_encode(tree, CONTAINERD_META_PAGE_SIZE, big_endian, &db, &size);
        if (r == 0)
                r = root_write_file(root_fd, CONTAINERD_META_DB, db, size, 0644, 0);
        return r;
}

int containers_bake(const char *root_dir, const OciImage *images, size_t n, uint64_t epoch) {
        if (n == 0)
                return 0;
        _cleanup_close_ int root_fd = open(root_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (root_fd < 0)
                return log_error_errno(errno, "containers: %s: %m", root_dir);
        _cleanup_close_ int ctr = root_open(root_fd, "usr/bin/ctr", O_PATH, 0);
        if (ctr < 0)
                return log_error_errno(ctr,
                                       "%s: containers: the image has no /usr/bin/ctr "
                                       "(install containerd, e.g. extends: container-host.yaml)",
                                       images[0].where);
        _cleanup_close_ int old = root_open(root_fd, CONTAINERD_META_DB, O_PATH | O_NOFOLLOW, 0);
        if (old >= 0)
                return log_error_errno(EEXIST,
                                       "%s: containers: the root already has a containerd "
                                       "database (%s); vmcompose writes it and does not merge "
                                       "into one",
                                       images[0].where, CONTAINERD_META_DB);
        _cleanup_close_ int blobs_fd = -1;
        int r = make_store_dirs(root_fd, &blobs_fd);
        if (r < 0)
                return log_error_errno(r, "containers: cannot create %s: %m",
                                       CONTAINERD_CONTENT_DIR);
        for (size_t i = 0; i < n; i++) {
                r = copy_blobs(blobs_fd, &images[i]);
                if (r == -EILSEQ)
                        return log_error_errno(r,
                                               "%s: containers[%s]: %s changed after it was "
                                               "verified",
                                               images[i].where, images[i].name, images[i].path);
                if (r < 0)
                        return log_error_errno(r,
                                               "containers[%s]: cannot write its blobs to %s: %m",
                                               images[i].name, CONTAINERD_CONTENT_DIR);
        }
        r = write_meta_db(root_fd, images, n, epoch);
        if (r < 0)
                return log_error_errno(r, "containers: cannot write containerd's %s: %m",
                                       CONTAINERD_META_DB);
        for (size_t i = 0; i < n; i++) {
                if (!images[i].run_set)
                        continue;
                _cleanup_free_ char *unit =
                        xasprintf("vmcompose-container-%s.service", images[i].name);
                _cleanup_free_ char *text = run_unit(&images[i]);
                r = write_unit(root_fd, unit, text);
                if (r < 0)
                        return log_error_errno(r, "containers: cannot write %s: %m", unit);
        }
        log_info("containers: %zu image(s) written into containerd's store (%s)", n,
                 CONTAINERD_ROOT);
        return 0;
}
