/* SPDX-License-Identifier: MIT */
/* The profile's containers: read and verified before any work (containers_load), and baked
 * into the root (containers_bake).
 *
 * How the images reach containerd: each is written as an OCI archive into
 * /var/lib/vmcompose/containers/, and a oneshot unit ordered after containerd.service imports
 * them with `ctr images import` from that local file at first start (then writes a stamp), so
 * `ctr images ls` lists them before any unit that runs a container starts, with no network.
 * containerd's native store was the alternative: its blobs are plain files
 * (io.containerd.content.v1.content/blobs/sha256/), but the image records, the content's
 * namespace ownership and the garbage collector's references live in meta.db, a bbolt database
 * containerd does not rebuild from the blobs (blobs meta.db does not list are garbage to it).
 * Writing bbolt pages from C would tie the image to containerd's internal schema version; the
 * import goes through containerd's own code and is verified by it again. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmcompose/containers.h"
#include "vmcompose/hash.h"
#include "vmcompose/log.h"
#include "vmcompose/rootfs.h"
#include "vmcompose/util.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct archive *, archive_read_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct archive *, archive_write_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct archive_entry *, archive_entry_free);

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

/* Adds one member to the archive: data from fd (its SHA-256 checked again against digest, so a
 * layout changed since it was verified is not baked) or from the bytes in data. */
static int add_member(struct archive *a, const char *name, uint64_t epoch, int fd,
                      const char *digest, uint64_t size, const char *data) {
        _cleanup_(archive_entry_freep) struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, name);
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_size(e, (la_int64_t)size);
        archive_entry_set_mtime(e, (time_t)epoch, 0);
        if (archive_write_header(a, e) != ARCHIVE_OK)
                return -EIO;
        if (data)
                return archive_write_data(a, data, size) == (la_ssize_t)size ? 0 : -EIO;
        Sha256 *h = sha256_new();
        char buf[1 << 16];
        uint64_t done = 0;
        for (;;) {
                ssize_t k = read(fd, buf, sizeof(buf));
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0) {
                        uint8_t md[SHA256_DIGEST_SIZE];
                        char hex[2 * SHA256_DIGEST_SIZE + 1];
                        sha256_finish(h, md);
                        sha256_hex(md, hex);
                        if (k < 0)
                                return -errno;
                        return done == size && streq(hex, digest + 7) ? 0 : -EILSEQ;
                }
                sha256_update(h, buf, (size_t)k);
                done += (uint64_t)k;
                if (done > size || archive_write_data(a, buf, (size_t)k) != k) {
                        sha256_finish(h, (uint8_t[SHA256_DIGEST_SIZE]){});
                        return done > size ? -EILSEQ : -EIO;
                }
        }
}

static int add_blob(struct archive *a, const OciImage *img, const OciDescriptor *d,
                    uint64_t epoch) {
        _cleanup_free_ char *rel = xasprintf("blobs/sha256/%s", d->digest + 7);
        _cleanup_free_ char *src = path_join(img->layout_dir, rel);
        _cleanup_close_ int fd = open(src, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        return add_member(a, rel, epoch, fd, d->digest, d->size, NULL);
}

/* NAME.tar in the root's containers directory: an OCI archive of the verified blobs and an
 * index naming the image for containerd. */
static int write_archive(int dir_fd, const OciImage *img, uint64_t epoch) {
        _cleanup_free_ char *file = xasprintf("%s.tar", img->name);
        _cleanup_close_ int fd =
                openat(dir_fd, file, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        _cleanup_(archive_write_freep) struct archive *a = archive_write_new();
        archive_write_set_format_pax_restricted(a);
        if (archive_write_open_fd(a, fd) != ARCHIVE_OK)
                return -EIO;
        static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
        _cleanup_free_ char *index = oci_baked_index(img);
        int r = add_member(a, "oci-layout", epoch, -1, NULL, strlen(layout), layout);
        if (r == 0)
                r = add_member(a, "index.json", epoch, -1, NULL, strlen(index), index);
        if (r == 0)
                r = add_blob(a, img, &img->manifest, epoch);
        if (r == 0)
                r = add_blob(a, img, &img->config, epoch);
        for (size_t i = 0; r == 0 && i < img->n_layers; i++)
                r = add_blob(a, img, &img->layers[i], epoch);
        if (r == 0 && archive_write_close(a) != ARCHIVE_OK)
                r = -EIO;
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

static char *import_unit(const OciImage *images, size_t n) {
        Buffer b = {};
        buffer_printf(&b,
                      "# Written by vmcompose: the container images baked into this image, handed "
                      "to containerd\n# from local files at its first start (no registry, no "
                      "network).\n"
                      "[Unit]\n"
                      "Description=Import the container images baked in by vmcompose\n"
                      "After=containerd.service\n"
                      "Requires=containerd.service\n"
                      "ConditionPathExists=!" CONTAINERS_DIR "/imported\n\n"
                      "[Service]\n"
                      "Type=oneshot\n"
                      "RemainAfterExit=yes\n");
        for (size_t i = 0; i < n; i++)
                buffer_printf(&b,
                              "ExecStart=/usr/bin/ctr --namespace default images import "
                              "--digests " CONTAINERS_DIR "/%s.tar\n",
                              images[i].name);
        buffer_printf(&b, "ExecStartPost=/usr/bin/touch " CONTAINERS_DIR "/imported\n\n"
                          "[Install]\n"
                          "WantedBy=multi-user.target\n");
        return buffer_steal(&b);
}

static char *run_unit(const OciImage *img) {
        Buffer b = {};
        buffer_printf(&b,
                      "# Written by vmcompose from the profile's containers[%s].run (%s).\n"
                      "[Unit]\n"
                      "Description=Container %s (%s)\n"
                      "After=containerd.service " CONTAINERS_IMPORT_UNIT "\n"
                      "Requires=containerd.service\n"
                      "Wants=" CONTAINERS_IMPORT_UNIT "\n\n"
                      "[Service]\n"
                      "ExecStartPre=-/usr/bin/ctr --namespace default containers delete %s\n"
                      "ExecStart=/usr/bin/ctr --namespace default run --rm %s %s",
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
        int r = root_mkdir_p(root_fd, CONTAINERS_DIR, 0700);
        if (r < 0)
                return log_error_errno(r, "containers: cannot create %s: %m", CONTAINERS_DIR);
        _cleanup_close_ int dir_fd = root_open(root_fd, CONTAINERS_DIR, O_RDONLY | O_DIRECTORY, 0);
        if (dir_fd < 0)
                return log_error_errno(dir_fd, "containers: cannot open %s: %m", CONTAINERS_DIR);
        for (size_t i = 0; i < n; i++) {
                r = write_archive(dir_fd, &images[i], epoch);
                if (r == -EILSEQ)
                        return log_error_errno(r,
                                               "%s: containers[%s]: %s changed after it was "
                                               "verified",
                                               images[i].where, images[i].name, images[i].path);
                if (r < 0)
                        return log_error_errno(r, "containers: cannot write %s/%s.tar: %m",
                                               CONTAINERS_DIR, images[i].name);
        }
        _cleanup_free_ char *import = import_unit(images, n);
        r = write_unit(root_fd, CONTAINERS_IMPORT_UNIT, import);
        if (r < 0)
                return log_error_errno(r, "containers: cannot write %s: %m",
                                       CONTAINERS_IMPORT_UNIT);
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
        log_info("containers: %zu image(s) baked into %s", n, CONTAINERS_DIR);
        return 0;
}
