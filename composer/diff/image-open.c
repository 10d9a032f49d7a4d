/* SPDX-License-Identifier: MIT */
/* One side of `vmcompose diff`: an image file (its headers validated by output_inspect(); qcow2
 * and vhdx converted to raw by qemu-img into an unnamed temporary file) read with libblkid
 * (partition table, filesystem identities), the ext4 and FAT readers (files), and the package
 * database (a backend's: dpkg's) or the manifest beside it (packages); or a NAME.manifest.json
 * alone. */
#include <blkid/blkid.h>
#include <ctype.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "diff-internal.h"
#include "vmcompose/endian.h"
#include "vmcompose/node.h"
#include "vmcompose/output.h"
#include "vmcompose/sparse.h"
#include "vmcompose/spawn.h"

#define MANIFEST_MAX_SIZE (64u << 20)

DEFINE_TRIVIAL_CLEANUP_FUNC(blkid_probe, blkid_free_probe);

void diff_disk_done(DiffDisk *d) {
        for (size_t i = 0; i < d->n_partitions; i++) {
                DiffPartition *p = &d->partitions[i];
                free(p->type);
                free(p->uuid);
                free(p->name);
                free(p->fs_type);
                free(p->fs_uuid);
                free(p->fs_label);
                if (p->tree) {
                        diff_tree_done(p->tree);
                        free(p->tree);
                }
        }
        free(d->partitions);
        free(d->table);
        free(d->id);
        *d = (DiffDisk){};
}

void diff_side_done(DiffSide *s) {
        free(s->path);
        diff_disk_done(&s->disk);
        diff_packages_done(&s->packages);
        diff_owners_done(&s->owners);
        size_report_done(&s->size);
        *s = (DiffSide){};
}

static DiffPartition *disk_add(DiffDisk *d) {
        d->partitions = xrealloc(d->partitions, (d->n_partitions + 1) * sizeof(DiffPartition));
        DiffPartition *p = &d->partitions[d->n_partitions++];
        *p = (DiffPartition){};
        return p;
}

static char *dup_or_null(const char *s) {
        return s && *s ? xstrdup(s) : NULL;
}

static char *upper(const char *s) {
        char *u = dup_or_null(s);
        for (char *c = u; c && *c; c++)
                *c = (char)toupper((unsigned char)*c);
        return u;
}

/* ---- manifests ---- */

static uint64_t scalar_uint(const Node *map, const char *key) {
        uint64_t v = 0;
        const char *s = node_map_scalar(map, key);
        if (s)
                (void)parse_uint64(s, &v);
        return v;
}

static int manifest_packages(const Node *root, DiffPackages *ret) {
        const Node *pkgs = node_map_typed(root, "packages", NODE_SEQ);
        if (!pkgs)
                return -EBADMSG;
        *ret = (DiffPackages){.source = "manifest"};
        ret->packages = xcalloc(pkgs->n_items + 1, sizeof(DiffPackage));
        for (size_t i = 0; i < pkgs->n_items; i++) {
                const Node *p = pkgs->items[i];
                const char *name = p->type == NODE_MAP ? node_map_scalar(p, "name") : NULL;
                if (!name)
                        return diff_packages_done(ret), -EBADMSG;
                ret->packages[ret->n_packages++] = (DiffPackage){
                        .name = xstrdup(name),
                        .version = dup_or_null(node_map_scalar(p, "version")),
                        .architecture = dup_or_null(node_map_scalar(p, "architecture")),
                };
        }
        diff_packages_sort(ret); /* the manifest has the plan's order */
        return 0;
}

static void manifest_disk(const Node *root, DiffDisk *d) {
        const Node *disk = node_map_typed(root, "disk", NODE_MAP);
        if (!disk)
                return;
        d->table = dup_or_null(node_map_scalar(disk, "table"));
        if (d->table && streq(d->table, "mbr")) {
                free(d->table);
                d->table = xstrdup("dos");
        }
        d->id = upper(node_map_scalar(disk, "id"));
        d->size = scalar_uint(disk, "size");
        const Node *parts = node_map_typed(disk, "partitions", NODE_SEQ);
        for (size_t i = 0; parts && i < parts->n_items; i++) {
                const Node *n = parts->items[i];
                if (n->type != NODE_MAP)
                        continue;
                DiffPartition *p = disk_add(d);
                p->number = (unsigned)scalar_uint(n, "number");
                p->type = upper(node_map_scalar(n, "type"));
                p->start = scalar_uint(n, "offset");
                p->size = scalar_uint(n, "size");
                p->uuid = upper(node_map_scalar(n, "partuuid"));
                if (d->table && streq(d->table, "gpt"))
                        p->name = dup_or_null(node_map_scalar(n, "label"));
                const char *fs = node_map_scalar(n, "fs");
                p->fs_type = fs && !streq(fs, "none") ? xstrdup(fs) : NULL;
                p->fs_uuid = upper(node_map_scalar(n, "fs-uuid"));
                p->fs_label = dup_or_null(node_map_scalar(n, "label"));
        }
}

/* Whether the manifest's package list describes the image: not when the build was given a
 * finished root (--root), which the package stages never saw. */
static bool manifest_has_packages(const Node *root) {
        const char *how = node_map_scalar(root, "root");
        return !how || !streq(how, "given with --root");
}

static int manifest_load(const char *path, DiffSide *s, char **ret_error) {
        _cleanup_free_ char *data = NULL;
        _cleanup_(node_freep) Node *root = NULL;
        Diagnostics diag = {};
        size_t size;
        int r;

        r = read_full_file(path, MANIFEST_MAX_SIZE, &data, &size);
        if (r < 0)
                return diff_error(ret_error, r, "%s: cannot read: %s", path, strerror(-r));
        r = node_parse_yaml(path, data, size, &diag, &root);
        if (r < 0) {
                r = diff_error(ret_error, -EBADMSG, "%s: not a manifest (JSON): %s", path,
                               diag.messages && diag.messages[0] ? diag.messages[0]
                                                                 : "parse error");
                diag_done(&diag);
                return r;
        }
        diag_done(&diag);
        if (manifest_packages(root, &s->packages) < 0)
                return diff_error(ret_error, -EBADMSG,
                                  "%s: not a vmcompose manifest: no \"packages\" list of names",
                                  path);
        s->has_packages = s->manifest || manifest_has_packages(root);
        manifest_disk(root, &s->disk);
        const Node *sizes = node_map_typed(root, "size", NODE_MAP);
        if (sizes && size_report_from_node(sizes, &s->size) < 0)
                return diff_error(ret_error, -EBADMSG, "%s: the manifest's \"size\" is malformed",
                                  path);
        s->has_size = sizes != NULL;
        return 0;
}

/* ---- images ---- */

/* The value of "key: " in output_inspect()'s text, or NULL. Caller frees. */
static char *inspect_field(const char *text, const char *key) {
        size_t n = strlen(key);
        for (const char *l = text; l && *l;) {
                while (*l == ' ')
                        l++;
                const char *nl = strchr(l, '\n');
                if (strneq(l, key, n) && l[n] == ':' && l[n + 1] == ' ')
                        return xstrndup(l + n + 2, (size_t)((nl ? nl : l + strlen(l)) - l) - n - 2);
                l = nl ? nl + 1 : NULL;
        }
        return NULL;
}

/* The error of a qemu-img run that failed with status r, from the first line of its output. */
static int qemu_img_failed(const char *path, const char *format, const char *what, int r,
                           Buffer *out, char **ret_error) {
        char *nl = out->data ? strchr(out->data, '\n') : NULL;
        if (nl)
                *nl = 0;
        if (r == -ENOENT)
                r = diff_error(ret_error, -ENOENT,
                               "%s: reading %s images needs qemu-img (package qemu-utils)", path,
                               format);
        else
                r = diff_error(ret_error, -EBADMSG, "%s: corrupt %s image: qemu-img %s: %s", path,
                               format, what, out->data && *out->data ? out->data : "failed");
        buffer_done(out);
        return r;
}

/* A temporary file with no name in $TMPDIR (O_TMPFILE; where the filesystem cannot do that, a
 * file unlinked as soon as it is created): nothing to remove, whatever way the process ends. */
static int open_tmpfile(const char *path, char **ret_error) {
        const char *tmp = getenv("TMPDIR");
        int fd;

        if (!tmp || !*tmp)
                tmp = "/tmp";
        fd = open(tmp, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR)) {
                _cleanup_free_ char *named = xasprintf("%s/vmcompose-diff-XXXXXX", tmp);
                fd = mkostemp(named, O_CLOEXEC);
                if (fd >= 0)
                        (void)unlink(named);
        }
        if (fd < 0)
                return diff_error(ret_error, -errno, "%s: cannot create a temporary file in %s: %s",
                                  path, tmp, strerror(errno));
        return fd;
}

/* Converts a qcow2, vhdx or dynamic VHD ("vpc") image to raw in a temporary file: with our own
 * readers, or with qemu-img for a dynamic VHD, where they say -EOPNOTSUPP (an unknown compression,
 * backing files, differencing VHDX, a VHDX log to replay) or VMCOMPOSE_DIFF_QEMU_IMG is set
 * (tests compare both). Returns the raw file's fd. */
static int convert_to_raw(const char *path, int file_fd, uint64_t file_size, const char *format,
                          char **ret_error) {
        _cleanup_close_ int fd = open_tmpfile(path, ret_error);
        char target[64];
        Buffer out = {};
        int r;

        if (fd < 0)
                return fd;
        if (!streq(format, "vpc") && !getenv("VMCOMPOSE_DIFF_QEMU_IMG")) {
                _cleanup_free_ char *why = NULL;
                uint64_t size;
                r = streq(format, "qcow2") ? diff_qcow2_to_raw(file_fd, file_size, fd, &size, &why)
                                           : diff_vhdx_to_raw(file_fd, file_size, fd, &size, &why);
                if (r == 0)
                        return TAKE_FD(fd);
                if (r == -EBADMSG)
                        return diff_error(ret_error, r, "%s: corrupt %s image: %s", path, format,
                                          why);
                if (r != -EOPNOTSUPP)
                        return diff_error(ret_error, r, "%s: cannot convert to raw: %s", path,
                                          strerror(-r));
                if (ftruncate(fd, 0) < 0)
                        return diff_error(ret_error, -errno, "%s: %s", path, strerror(errno));
        }
        /* qemu-img convert reads clusters past the end of a cut image as zeros: check first
         * (exit 2: corruption; 3: only leaked clusters, harmless; 63: no check for format). */
        char *check[] = {(char *)"qemu-img", (char *)"check", (char *)"-q", (char *)"-f",
                         (char *)format,     (char *)path,    NULL};
        r = spawn_run(check, NULL, &out);
        if (r != 0 && r != 3 && r != 63)
                return qemu_img_failed(path, format, "check", r, &out, ret_error);
        buffer_done(&out);
        /* qemu-img opens the file through our descriptor's /proc link. */
        snprintf(target, sizeof(target), "/proc/%d/fd/%d", (int)getpid(), fd);
        char *argv[] = {
                (char *)"qemu-img", (char *)"convert", (char *)"-q", (char *)"-f", (char *)format,
                (char *)"-O",       (char *)"raw",     (char *)path, target,       NULL};
        r = spawn_run(argv, NULL, &out);
        if (r != 0)
                return qemu_img_failed(path, format, "convert", r, &out, ret_error);
        buffer_done(&out);
        return TAKE_FD(fd);
}

typedef struct FdReader {
        int fd;
        uint64_t offset;
} FdReader;

static int fd_read(void *userdata, void *buf, size_t size, uint64_t offset) {
        FdReader *f = userdata;
        return pread_all(f->fd, buf, size, f->offset + offset);
}

static void probe_fs(int fd, DiffPartition *p) {
        _cleanup_(blkid_free_probep) blkid_probe pr = blkid_new_probe();
        const char *v;

        if (!pr ||
            blkid_probe_set_device(pr, fd, (blkid_loff_t)p->start, (blkid_loff_t)p->size) < 0)
                return;
        blkid_probe_enable_superblocks(pr, 1);
        blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE | BLKID_SUBLKS_UUID |
                                                      BLKID_SUBLKS_LABEL);
        if (blkid_do_safeprobe(pr) != 0)
                return;
        if (blkid_probe_lookup_value(pr, "TYPE", &v, NULL) == 0)
                p->fs_type = dup_or_null(v);
        if (blkid_probe_lookup_value(pr, "UUID", &v, NULL) == 0)
                p->fs_uuid = upper(v);
        if (blkid_probe_lookup_value(pr, "LABEL", &v, NULL) == 0)
                p->fs_label = dup_or_null(v);
}

static int read_table(int fd, uint64_t size, DiffDisk *d) {
        _cleanup_(blkid_free_probep) blkid_probe pr = blkid_new_probe();

        if (!pr || blkid_probe_set_device(pr, fd, 0, (blkid_loff_t)size) < 0)
                return -EIO;
        blkid_probe_enable_superblocks(pr, 0);
        blkid_probe_enable_partitions(pr, 1);
        blkid_probe_set_partitions_flags(pr, BLKID_PARTS_ENTRY_DETAILS);
        if (blkid_do_fullprobe(pr) < 0)
                return 0;
        blkid_partlist ls = blkid_probe_get_partitions(pr);
        blkid_parttable tab = ls ? blkid_partlist_get_table(ls) : NULL;
        if (!tab)
                return 0;
        d->table = dup_or_null(blkid_parttable_get_type(tab));
        d->id = upper(blkid_parttable_get_id(tab));
        bool gpt = d->table && streq(d->table, "gpt");
        int n = blkid_partlist_numof_partitions(ls);
        for (int i = 0; i < n; i++) {
                blkid_partition pa = blkid_partlist_get_partition(ls, i);
                if (!pa)
                        continue;
                DiffPartition *p = disk_add(d);
                p->number = (unsigned)blkid_partition_get_partno(pa);
                p->start = (uint64_t)blkid_partition_get_start(pa) * 512;
                p->size = (uint64_t)blkid_partition_get_size(pa) * 512;
                if (gpt) {
                        p->type = upper(blkid_partition_get_type_string(pa));
                        p->name = dup_or_null(blkid_partition_get_name(pa));
                } else
                        p->type = xasprintf("0x%02x", (unsigned)blkid_partition_get_type(pa));
                p->uuid = upper(blkid_partition_get_uuid(pa));
        }
        return 0;
}

static int read_filesystems(const char *path, int fd, DiffSide *s, char **ret_error) {
        char fd_path[64];
        int r;

        snprintf(fd_path, sizeof(fd_path), "/proc/self/fd/%d", fd);
        for (size_t i = 0; i < s->disk.n_partitions; i++) {
                DiffPartition *p = &s->disk.partitions[i];
                if (p->start > s->disk.size || p->size > s->disk.size - p->start)
                        return diff_error(ret_error, -EBADMSG,
                                          "%s: partition %u ends beyond the end of the image "
                                          "(%llu bytes): truncated?",
                                          path, p->number, (unsigned long long)s->disk.size);
                probe_fs(fd, p);
                if (!p->fs_type)
                        continue;
                _cleanup_free_ char *err = NULL;
                DiffTree *t = xcalloc(1, sizeof(DiffTree));
                if (streq(p->fs_type, "ext4") || streq(p->fs_type, "ext3") ||
                    streq(p->fs_type, "ext2"))
                        r = diff_ext4_read(fd_path, p->start, p->size, t, &err);
                else if (streq(p->fs_type, "vfat")) {
                        FdReader fr = {fd, p->start};
                        DiffReader reader = {fd_read, &fr, p->size};
                        r = diff_fat_read(&reader, t, &err);
                } else {
                        free(t);
                        continue;
                }
                if (r < 0) {
                        free(t);
                        return diff_error(ret_error, r, "%s: partition %u (%s): %s", path,
                                          p->number, p->fs_type, err ? err : strerror(-r));
                }
                p->fs_size = t->fs_size;
                p->tree = t;
        }
        return 0;
}

/* Owners (and, with want_packages, the packages) from the package database (a backend's:
 * dpkg's) in whichever filesystem holds one. */
static int read_database(const char *path, DiffSide *s, bool want_packages, char **ret_error) {
        size_t n_ops;
        const DistroOps *const *all = distro_list(&n_ops);
        for (size_t i = 0; i < s->disk.n_partitions; i++) {
                const DiffTree *t = s->disk.partitions[i].tree;
                const DistroOps *ops = NULL;
                const DiffFile *st = NULL;
                for (size_t k = 0; k < n_ops && !(st && st->data); k++) {
                        ops = all[k];
                        st = diff_tree_find(t, ops->db_status_path);
                }
                if (!st || !st->data)
                        continue;
                _cleanup_free_ char *err = NULL;
                if (want_packages) {
                        int r = diff_packages_parse(ops, st->data, st->data_size, &s->packages,
                                                    &err);
                        if (r < 0)
                                return diff_error(ret_error, r, "%s: %s: %s", path,
                                                  ops->db_status_path, err);
                        s->has_packages = true;
                }
                diff_owners_from_tree(ops, t, &s->owners);
                return 0;
        }
        return 0;
}

/* NAME.manifest.json beside NAME.FORMAT, or NULL. */
static char *manifest_beside(const char *path) {
        const char *slash = strrchr(path, '/');
        const char *dot = strrchr(slash ? slash + 1 : path, '.');
        if (!dot)
                return NULL;
        char *m = xasprintf("%.*s.manifest.json", (int)(dot - path), path);
        if (access(m, R_OK) == 0)
                return m;
        free(m);
        return NULL;
}

static bool looks_like_json(int fd) {
        char buf[64];
        ssize_t n = pread(fd, buf, sizeof(buf), 0);
        for (ssize_t i = 0; i < n; i++)
                if (!isspace((unsigned char)buf[i]))
                        return buf[i] == '{';
        return false;
}

/* The partition table, or a bare filesystem as the one "partition" 0 of the disk. */
static int read_layout(const char *path, int fd, DiffSide *s, char **ret_error) {
        uint8_t h[512];
        int r;

        r = read_table(fd, s->disk.size, &s->disk);
        if (r < 0)
                return diff_error(ret_error, r, "%s: cannot probe: %s", path, strerror(-r));
        if (s->disk.table)
                return 0;
        /* libblkid ignores a GPT whose disk is larger than the file: say why. */
        if (s->disk.size >= 1024 && pread_all(fd, h, sizeof(h), 512) == 0 &&
            memcmp(h, "EFI PART", 8) == 0 && (le64(h + 32) + 1) * 512 > s->disk.size)
                return diff_error(
                        ret_error, -EBADMSG,
                        "%s: truncated: its GPT describes a disk of %llu bytes, the image "
                        "has %llu",
                        path, (unsigned long long)((le64(h + 32) + 1) * 512),
                        (unsigned long long)s->disk.size);
        DiffPartition *p = disk_add(&s->disk);
        p->size = s->disk.size;
        probe_fs(fd, p);
        if (!p->fs_type)
                return diff_error(ret_error, -EBADMSG,
                                  "%s: unknown format: no qcow2, VHDX or VHD header, no partition "
                                  "table and no filesystem (%llu bytes)",
                                  path, (unsigned long long)s->disk.size);
        /* read_filesystems() probes it again, with the partitions. */
        free(p->fs_type);
        free(p->fs_uuid);
        free(p->fs_label);
        p->fs_type = p->fs_uuid = p->fs_label = NULL;
        return 0;
}

/* Packages from the manifest beside the image, else from its package database; owners from the
 * package database in any case. */
static int read_packages(const char *path, DiffSide *s, char **ret_error) {
        _cleanup_free_ char *manifest = manifest_beside(path);
        if (manifest) {
                DiffSide m = {};
                int r = manifest_load(manifest, &m, ret_error);
                if (r < 0)
                        return r;
                if (m.has_packages) {
                        s->packages = m.packages;
                        s->has_packages = true;
                        m.packages = (DiffPackages){};
                }
                diff_side_done(&m);
        }
        return read_database(path, s, !s->has_packages, ret_error);
}

static int image_load(const char *path, int file_fd, uint64_t file_size, DiffSide *s,
                      char **ret_error) {
        Buffer info = {};
        _cleanup_close_ int raw_fd = -1;
        int r;

        r = output_inspect(path, &info);
        _cleanup_free_ char *format = inspect_field(info.data, "format");
        _cleanup_free_ char *why = inspect_field(info.data, "error");
        _cleanup_free_ char *type = inspect_field(info.data, "type");
        buffer_done(&info);
        if (r == -EMEDIUMTYPE) /* sound, only not what Azure takes (a dynamic VHD, ...) */
                r = 0;
        if (r < 0 || !format) {
                /* "PATH has no VHD footer ...": "PATH: unknown format: it has no VHD ..." */
                size_t n = strlen(path);
                bool named = why && strneq(why, path, n) && why[n] == ' ';
                if (!format || streq(format, "unknown"))
                        return diff_error(ret_error, -EBADMSG, "%s: unknown format: %s%s", path,
                                          named ? "it" : "",
                                          named ? why + n
                                          : why ? why
                                                : "");
                return diff_error(ret_error, -EBADMSG, "%s: corrupt %s image: %s", path, format,
                                  why ? why : strerror(-r));
        }
        static const char *const formats[] = {"raw", "vhd", "vhdx", "qcow2"};
        for (size_t i = 0; i < ELEMENTSOF(formats); i++)
                if (streq(format, formats[i]))
                        s->format = formats[i];
        if (!s->format)
                return diff_error(ret_error, -EBADMSG, "%s: unsupported image format %s", path,
                                  format);
        bool dynamic_vhd = streq(s->format, "vhd") && type && !streq(type, "fixed");
        s->disk.size = file_size;
        if (streq(s->format, "vhd") && !dynamic_vhd)
                s->disk.size = file_size - 512; /* a fixed VHD: the raw image, then a footer */
        else if (!streq(s->format, "raw")) {
                raw_fd = convert_to_raw(path, file_fd, file_size, dynamic_vhd ? "vpc" : s->format,
                                        ret_error);
                if (raw_fd < 0)
                        return raw_fd;
                struct stat st;
                if (fstat(raw_fd, &st) < 0)
                        return diff_error(ret_error, -errno, "%s: %m", path);
                s->disk.size = (uint64_t)st.st_size;
        }
        int fd = raw_fd >= 0 ? raw_fd : file_fd;

        r = read_layout(path, fd, s, ret_error);
        if (r < 0)
                return r;
        r = read_filesystems(path, fd, s, ret_error);
        if (r < 0)
                return r;
        return read_packages(path, s, ret_error);
}

int diff_side_open(const char *path, DiffSide *ret, char **ret_error) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        DiffSide s = {.path = xstrdup(path)};
        struct stat st;
        int r;

        if (fd < 0 || fstat(fd, &st) < 0) {
                r = -errno;
                diff_side_done(&s);
                return diff_error(ret_error, r, "%s: %s", path, strerror(-r));
        }
        if (!S_ISREG(st.st_mode)) {
                diff_side_done(&s);
                return diff_error(ret_error, -EBADMSG, "%s: not a regular file", path);
        }
        if (looks_like_json(fd)) {
                s.manifest = true;
                s.format = "manifest";
                r = manifest_load(path, &s, ret_error);
        } else
                r = image_load(path, fd, (uint64_t)st.st_size, &s, ret_error);
        if (r < 0) {
                diff_side_done(&s);
                return r;
        }
        *ret = s;
        return 0;
}

typedef struct OpenJob {
        const char *path;
        DiffSide side;
        char *error;
        int r;
} OpenJob;

static void *open_job(void *userdata) {
        OpenJob *j = userdata;
        j->r = diff_side_open(j->path, &j->side, &j->error);
        return NULL;
}

int diff_sides_open(const char *a, const char *b, DiffSide *ret_a, DiffSide *ret_b,
                    char **ret_error) {
        OpenJob ja = {.path = a}, jb = {.path = b};
        pthread_t t;
        bool threaded = pthread_create(&t, NULL, open_job, &jb) == 0;

        open_job(&ja);
        if (threaded)
                pthread_join(t, NULL);
        else
                open_job(&jb);
        int r = ja.r < 0 ? ja.r : jb.r;
        if (r >= 0 && ja.side.manifest != jb.side.manifest)
                r = diff_error(
                        &ja.error, -EBADMSG,
                        "%s is a manifest and %s an image: compare two images or two manifests",
                        ja.side.manifest ? a : b, ja.side.manifest ? b : a);
        if (r < 0) {
                *ret_error = ja.r < 0 || ja.error ? TAKE_PTR(ja.error) : TAKE_PTR(jb.error);
                free(ja.error);
                free(jb.error);
                diff_side_done(&ja.side);
                diff_side_done(&jb.side);
                return r;
        }
        *ret_a = ja.side;
        *ret_b = jb.side;
        return 0;
}

/* The root filesystem of an image: the one with /usr (the largest such, for an image that
 * carries two), else the one with the most files. */
static const DiffTree *root_tree(const DiffDisk *d) {
        const DiffTree *best = NULL;
        bool best_usr = false;
        for (size_t i = 0; i < d->n_partitions; i++) {
                const DiffTree *t = d->partitions[i].tree;
                if (!t)
                        continue;
                const DiffFile *usr = diff_tree_find(t, "/usr");
                bool has_usr = usr && S_ISDIR(usr->mode);
                if (!best || (has_usr && !best_usr) ||
                    (has_usr == best_usr && t->n_files > best->n_files)) {
                        best = t;
                        best_usr = has_usr;
                }
        }
        return best;
}

int diff_size_open(const char *path, SizeReport *ret, char **ret_error) {
        DiffSide s = {};
        int r = diff_side_open(path, &s, ret_error);
        if (r < 0)
                return r;
        if (s.manifest && !s.has_size)
                r = diff_error(ret_error, -EBADMSG,
                               "%s: the manifest has no \"size\" (written by an older vmcompose)",
                               path);
        else if (s.manifest) {
                *ret = s.size;
                s.size = (SizeReport){};
        } else {
                const DiffTree *t = root_tree(&s.disk);
                if (!t)
                        r = diff_error(ret_error, -EBADMSG, "%s: no filesystem could be read",
                                       path);
                else
                        diff_size_report(t, &s.owners, ret);
        }
        diff_side_done(&s);
        return r;
}
