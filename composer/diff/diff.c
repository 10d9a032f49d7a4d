/* SPDX-License-Identifier: MIT */
/* The comparisons of `vmcompose diff`: two package lists, two disks (table, partitions and
 * filesystem identities) and, per filesystem, two sorted file lists walked side by side. Pure
 * functions over what the readers produced: no I/O here. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "vmcompose/diff.h"

static int strcmp_null(const char *a, const char *b) {
        if (!a || !b)
                return (a != NULL) - (b != NULL);
        return strcmp(a, b);
}

static unsigned file_changes(const DiffFile *a, const DiffFile *b, const DiffOptions *o) {
        unsigned what = 0;

        if ((a->mode & S_IFMT) != (b->mode & S_IFMT))
                return DIFF_TYPE;
        if (a->has_digest && b->has_digest && memcmp(a->sha256, b->sha256, SHA256_DIGEST_SIZE))
                what |= DIFF_CONTENT;
        if (S_ISREG(a->mode) && a->size != b->size)
                what |= DIFF_SIZE;
        if ((a->mode & 07777) != (b->mode & 07777))
                what |= DIFF_MODE;
        if (a->uid != b->uid || a->gid != b->gid)
                what |= DIFF_OWNER;
        if (strcmp_null(a->xattrs, b->xattrs))
                what |= DIFF_XATTRS;
        if (!o->no_times && (a->mtime != b->mtime || a->mtime_nsec != b->mtime_nsec))
                what |= DIFF_MTIME;
        if (!o->no_times && (a->ctime != b->ctime || a->ctime_nsec != b->ctime_nsec))
                what |= DIFF_CTIME;
        if (strcmp_null(a->link, b->link))
                what |= DIFF_LINK;
        if ((S_ISCHR(a->mode) || S_ISBLK(a->mode)) && a->rdev != b->rdev)
                what |= DIFF_RDEV;
        return what;
}

static int change_cmp(const void *x, const void *y) {
        const DiffFileChange *a = x, *b = y;
        /* Grouped by package, the files no package owns last; then by path. */
        if (!a->package != !b->package)
                return a->package ? -1 : 1;
        int c = strcmp_null(a->package, b->package);
        if (c != 0)
                return c;
        return strcmp(a->a ? a->a->path : a->b->path, b->a ? b->a->path : b->b->path);
}

static void add_change(DiffFsResult *r, const DiffFile *a, const DiffFile *b, unsigned what,
                       const char *package) {
        if (r->n_changes % 64 == 0)
                r->changes = xrealloc(r->changes, (r->n_changes + 64) * sizeof(DiffFileChange));
        r->changes[r->n_changes++] = (DiffFileChange){a, b, what, package};
}

static uint64_t file_bytes(const DiffFile *f) {
        return S_ISREG(f->mode) ? f->size : 0;
}

void diff_trees(const DiffTree *a, const DiffTree *b, const DiffOwners *owners_a,
                const DiffOwners *owners_b, const DiffOptions *o, DiffFsResult *ret) {
        size_t i = 0, j = 0;

        ret->n_entries = b->n_files;
        while (i < a->n_files || j < b->n_files) {
                const DiffFile *fa = i < a->n_files ? &a->files[i] : NULL;
                const DiffFile *fb = j < b->n_files ? &b->files[j] : NULL;
                int c = !fa ? 1 : !fb ? -1 : strcmp(fa->path, fb->path);
                if (c < 0) {
                        add_change(ret, fa, NULL, 0, diff_owners_find(owners_a, fa->path));
                        ret->n_removed++;
                        ret->bytes_removed += file_bytes(fa);
                        i++;
                } else if (c > 0) {
                        add_change(ret, NULL, fb, 0, diff_owners_find(owners_b, fb->path));
                        ret->n_added++;
                        ret->bytes_added += file_bytes(fb);
                        j++;
                } else {
                        unsigned what = file_changes(fa, fb, o);
                        if (what) {
                                const char *pkg = diff_owners_find(owners_b, fb->path);
                                add_change(ret, fa, fb, what,
                                           pkg ? pkg : diff_owners_find(owners_a, fa->path));
                                ret->n_changed++;
                                ret->bytes_changed += file_bytes(fb);
                        }
                        i++;
                        j++;
                }
        }
        if (ret->n_changes > 0)
                qsort(ret->changes, ret->n_changes, sizeof(DiffFileChange), change_cmp);
}

void diff_fs_result_done(DiffFsResult *r) {
        free(r->name);
        free(r->changes);
        *r = (DiffFsResult){};
}

static int package_key_cmp(const DiffPackage *a, const DiffPackage *b) {
        int c = strcmp(a->name, b->name);
        return c != 0 ? c : strcmp_null(a->architecture, b->architecture);
}

static void add_package_change(DiffResult *r, const DiffPackage *a, const DiffPackage *b) {
        if (r->n_packages % 64 == 0)
                r->packages =
                        xrealloc(r->packages, (r->n_packages + 64) * sizeof(DiffPackageChange));
        r->packages[r->n_packages++] = (DiffPackageChange){a, b};
}

void diff_packages(const DiffPackages *a, const DiffPackages *b, DiffResult *ret) {
        size_t i = 0, j = 0;

        ret->packages_compared = true;
        while (i < a->n_packages || j < b->n_packages) {
                const DiffPackage *pa = i < a->n_packages ? &a->packages[i] : NULL;
                const DiffPackage *pb = j < b->n_packages ? &b->packages[j] : NULL;
                int c = !pa ? 1 : !pb ? -1 : package_key_cmp(pa, pb);
                if (c < 0) {
                        add_package_change(ret, pa, NULL);
                        ret->n_packages_removed++;
                        i++;
                } else if (c > 0) {
                        add_package_change(ret, NULL, pb);
                        ret->n_packages_added++;
                        j++;
                } else {
                        if (strcmp_null(pa->version, pb->version)) {
                                add_package_change(ret, pa, pb);
                                ret->n_packages_changed++;
                        }
                        i++;
                        j++;
                }
        }
}

static void add_disk_change(DiffResult *r, unsigned partition, const char *field, char *a,
                            char *b) {
        r->disk = xrealloc(r->disk, (r->n_disk + 1) * sizeof(DiffDiskChange));
        r->disk[r->n_disk++] = (DiffDiskChange){partition, field, a, b};
}

static void cmp_str(DiffResult *r, unsigned partition, const char *field, const char *a,
                    const char *b) {
        if (strcmp_null(a, b))
                add_disk_change(r, partition, field, a ? xstrdup(a) : NULL, b ? xstrdup(b) : NULL);
}

static void cmp_uint(DiffResult *r, unsigned partition, const char *field, uint64_t a, uint64_t b) {
        if (a != b)
                add_disk_change(r, partition, field, xasprintf("%llu", (unsigned long long)a),
                                xasprintf("%llu", (unsigned long long)b));
}

static const DiffPartition *find_partition(const DiffDisk *d, unsigned number) {
        for (size_t i = 0; i < d->n_partitions; i++)
                if (d->partitions[i].number == number)
                        return &d->partitions[i];
        return NULL;
}

static char *describe_partition(const DiffPartition *p) {
        char size[32];
        return xasprintf("%s, %s%s%s", p->fs_type ? p->fs_type : "no filesystem",
                         diff_format_bytes(p->size, size), p->name ? ", " : "",
                         p->name ? p->name : "");
}

void diff_disks(const DiffDisk *a, const DiffDisk *b, DiffResult *ret) {
        cmp_str(ret, 0, "table", a->table, b->table);
        cmp_str(ret, 0, "id", a->id, b->id);
        cmp_uint(ret, 0, "size", a->size, b->size);
        for (size_t i = 0; i < a->n_partitions; i++) {
                const DiffPartition *pa = &a->partitions[i];
                const DiffPartition *pb = find_partition(b, pa->number);
                if (!pb) {
                        add_disk_change(ret, pa->number, "partition", describe_partition(pa), NULL);
                        continue;
                }
                cmp_str(ret, pa->number, "type", pa->type, pb->type);
                cmp_uint(ret, pa->number, "start", pa->start, pb->start);
                cmp_uint(ret, pa->number, "size", pa->size, pb->size);
                cmp_str(ret, pa->number, "uuid", pa->uuid, pb->uuid);
                cmp_str(ret, pa->number, "name", pa->name, pb->name);
                cmp_str(ret, pa->number, "fs", pa->fs_type, pb->fs_type);
                cmp_str(ret, pa->number, "fs uuid", pa->fs_uuid, pb->fs_uuid);
                cmp_str(ret, pa->number, "fs label", pa->fs_label, pb->fs_label);
                if (pa->fs_size && pb->fs_size)
                        cmp_uint(ret, pa->number, "fs size", pa->fs_size, pb->fs_size);
        }
        for (size_t i = 0; i < b->n_partitions; i++)
                if (!find_partition(a, b->partitions[i].number))
                        add_disk_change(ret, b->partitions[i].number, "partition", NULL,
                                        describe_partition(&b->partitions[i]));
}

/* What a person calls the partition: its role from the type, else its label. */
static char *partition_role(const DiffDisk *d, const DiffPartition *p) {
        static const struct {
                const char *type, *role;
        } roles[] = {
                {"C12A7328-F81F-11D2-BA4B-00A0C93EC93B", "esp"},
                {"0xef", "esp"},
                {"4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709", "root"},
                {"B921B045-1DF0-41C3-AF44-4C6F280D3FAE", "root"},
                {"44479540-F297-41B2-9AF7-D131D5F0458A", "root"},
                {"BC13C2FF-59E6-4262-A352-B275FD6F7172", "boot"},
                {"0xea", "boot"},
        };
        if (!d->table)
                return xstrdup("filesystem");
        for (size_t i = 0; p->type && i < ELEMENTSOF(roles); i++)
                if (streq(p->type, roles[i].type))
                        return xstrdup(roles[i].role);
        if (p->fs_label)
                return xstrdup(p->fs_label);
        return xasprintf("partition %u", p->number);
}

void diff_sides(const DiffSide *a, const DiffSide *b, const DiffOptions *o, DiffResult *ret) {
        *ret = (DiffResult){.a = a, .b = b};
        if (a->has_packages && b->has_packages)
                diff_packages(&a->packages, &b->packages, ret);
        diff_disks(&a->disk, &b->disk, ret);
        for (size_t i = 0; i < a->disk.n_partitions; i++) {
                const DiffPartition *pa = &a->disk.partitions[i];
                const DiffPartition *pb = find_partition(&b->disk, pa->number);
                if (!pa->tree || !pb || !pb->tree || strcmp_null(pa->fs_type, pb->fs_type))
                        continue;
                ret->fs = xrealloc(ret->fs, (ret->n_fs + 1) * sizeof(DiffFsResult));
                DiffFsResult *r = &ret->fs[ret->n_fs++];
                *r = (DiffFsResult){.name = partition_role(&b->disk, pb), .fs = pb->fs_type};
                diff_trees(pa->tree, pb->tree, &a->owners, &b->owners, o, r);
        }
        ret->identical = ret->n_packages == 0 && ret->n_disk == 0;
        for (size_t i = 0; i < ret->n_fs; i++)
                if (ret->fs[i].n_changes > 0)
                        ret->identical = false;
}

void diff_result_done(DiffResult *r) {
        free(r->packages);
        for (size_t i = 0; i < r->n_disk; i++) {
                free(r->disk[i].a);
                free(r->disk[i].b);
        }
        free(r->disk);
        for (size_t i = 0; i < r->n_fs; i++)
                diff_fs_result_done(&r->fs[i]);
        free(r->fs);
        *r = (DiffResult){};
}
