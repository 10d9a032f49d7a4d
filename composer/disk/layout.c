/* SPDX-License-Identifier: MIT */
/* Disk layout: from the profile to sizes and offsets. Pure arithmetic, unit-tested. */
#include <stdio.h>
#include <string.h>

#include "disk-internal.h"
#include "vmcompose/hash.h"

static const char *const role_names[_ROLE_MAX] = {
        [ROLE_ESP] = "esp",   [ROLE_BIOS_BOOT] = "bios-boot", [ROLE_BOOT] = "boot",
        [ROLE_ROOT] = "root", [ROLE_SWAP] = "swap",           [ROLE_DATA] = "data",
};

static const char *const fs_names[_FS_TYPE_MAX] = {
        [FS_NONE] = "none", [FS_VFAT] = "vfat",   [FS_EXT4] = "ext4",
        [FS_XFS] = "xfs",   [FS_EROFS] = "erofs", [FS_SWAP] = "swap",
};

const char *partition_role_to_string(PartitionRole r) {
        return r >= 0 && r < _ROLE_MAX ? role_names[r] : NULL;
}

PartitionRole partition_role_from_string(const char *s) {
        for (int i = 0; i < _ROLE_MAX; i++)
                if (streq(role_names[i], s))
                        return (PartitionRole)i;
        return _ROLE_INVALID;
}

const char *fs_type_to_string(FsType t) {
        return t >= 0 && t < _FS_TYPE_MAX ? fs_names[t] : NULL;
}

FsType fs_type_from_string(const char *s) {
        for (int i = 0; i < _FS_TYPE_MAX; i++)
                if (streq(fs_names[i], s))
                        return (FsType)i;
        return _FS_TYPE_INVALID;
}

/* The Discoverable Partitions Specification's type GUIDs (uapi-group.org). */
const char *partition_gpt_type(PartitionRole role, const char *architecture) {
        switch (role) {
        case ROLE_ESP:
                return "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";
        case ROLE_BIOS_BOOT:
                return "21686148-6449-6E6F-744E-656564454649";
        case ROLE_BOOT: /* XBOOTLDR */
                return "BC13C2FF-59E6-4262-A352-B275FD6F7172";
        case ROLE_ROOT:
                if (architecture && streq(architecture, "arm64"))
                        return "B921B045-1DF0-41C3-AF44-4C6F280D3FAE";
                if (architecture && streq(architecture, "i386"))
                        return "44479540-F297-41B2-9AF7-D131D5F0458A";
                return "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709"; /* x86-64 */
        case ROLE_SWAP:
                return "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F";
        case ROLE_DATA:
        default:
                return "0FC63DAF-8483-4772-8E79-3D69D8477DE4"; /* Linux filesystem data */
        }
}

unsigned partition_mbr_type(PartitionRole role) {
        switch (role) {
        case ROLE_ESP:
                return 0xef;
        case ROLE_SWAP:
                return 0x82;
        case ROLE_BOOT:
                return 0xea; /* XBOOTLDR */
        default:
                return 0x83;
        }
}

static FsType default_fs(PartitionRole role) {
        switch (role) {
        case ROLE_ESP:
                return FS_VFAT;
        case ROLE_BIOS_BOOT:
                return FS_NONE;
        case ROLE_SWAP:
                return FS_SWAP;
        default:
                return FS_EXT4;
        }
}

static char *mark_string(const Mark *m) {
        return m->line > 0 ? xasprintf("%s:%u:%u", m->file, m->line, m->column)
                           : xstrdup(m->file ? m->file : "?");
}

void disk_layout_done(DiskLayout *l) {
        for (size_t i = 0; i < l->n_partitions; i++) {
                free(l->partitions[i].label);
                free(l->partitions[i].where);
        }
        free(l->partitions);
        free(l->size_where);
        *l = (DiskLayout){};
}

int disk_layout_from_profile(const Profile *p, const char *seed, DiskLayout *ret,
                             Diagnostics *diag) {
        const ProfileConfig *c = &p->config;
        const char *table = c->disk_table.value;
        DiskLayout l = {.gpt = !table || !streq(table, "mbr")};
        int r = 0;

        if (c->n_partitions == 0) {
                Mark m = {.file = p->layers ? p->layers[strv_length(p->layers) - 1] : "profile"};
                diag_add(diag, &m, "disk.partitions: the profile lists no partitions");
                return -EBADMSG;
        }
        l.architecture = c->architecture.value ?: "amd64";
        /* Sizes were parsed at load (composer/profile/config.c). */
        l.auto_size = c->disk_auto_size;
        l.size = c->disk_bytes;
        l.size_where = c->disk_size.value ? mark_string(&c->disk_size.mark) : xstrdup("disk.size");
        uuid_from_seed(seed, "disk", l.disk_uuid);

        l.partitions = xcalloc(c->n_partitions, sizeof(Partition));
        for (size_t i = 0; i < c->n_partitions; i++) {
                const ProfilePartition *item = &c->partitions[i];
                const char *role = item->role.value;
                Partition *pt = &l.partitions[l.n_partitions++];

                pt->where = mark_string(&item->mark);
                pt->role = partition_role_from_string(role);
                pt->fs =
                        item->fs.value ? fs_type_from_string(item->fs.value) : default_fs(pt->role);
                pt->label = item->label.value ? xstrdup(item->label.value) : NULL;
                pt->auto_size = item->auto_size;
                pt->size = item->size_bytes;
                pt->free = item->free_bytes;
                pt->free_percent = item->free_percent;
                if (!item->free.value && pt->auto_size)
                        pt->free_percent = 20; /* documented default headroom */
                if (pt->fs == FS_XFS) {
                        diag_add(diag, &item->mark,
                                 "fs: xfs: mkfs.xfs in Debian 12 cannot populate a filesystem "
                                 "from a directory (only from a protofile); use ext4 or erofs");
                        r = -EBADMSG;
                }

                _cleanup_free_ char *purpose = xasprintf("partition:%zu:%s", i, role);
                uuid_from_seed(seed, purpose, pt->uuid);
                _cleanup_free_ char *fs_purpose = xasprintf("filesystem:%zu:%s", i, role);
                uuid_from_seed(seed, fs_purpose, pt->fs_uuid);
        }
        if (r < 0) {
                disk_layout_done(&l);
                return r;
        }
        *ret = l;
        return 0;
}

static bool add_overflows(uint64_t a, uint64_t b, uint64_t *ret) {
        return __builtin_add_overflow(a, b, ret);
}

static bool align_up(uint64_t v, uint64_t *ret) {
        uint64_t t;
        if (add_overflows(v, DISK_ALIGN - 1, &t))
                return true;
        *ret = t & ~(DISK_ALIGN - 1);
        return false;
}

static void fmt(uint64_t bytes, char buf[static 32]) {
        /* Whole MiB where exact, otherwise bytes: messages a person can check. */
        if (bytes % DISK_ALIGN == 0)
                snprintf(buf, 32, "%llu MiB", (unsigned long long)(bytes >> 20));
        else
                snprintf(buf, 32, "%llu bytes", (unsigned long long)bytes);
}

int disk_layout_compute(DiskLayout *l, Diagnostics *diag) {
        uint64_t end_reserve = l->gpt ? GPT_BACKUP_BYTES : 0;
        uint64_t cur = DISK_ALIGN; /* the table and alignment before the first partition */
        Partition *grow = NULL;
        char a[32], b[32], c[32];

        for (size_t i = 0; i < l->n_partitions; i++) {
                Partition *p = &l->partitions[i];
                uint64_t want = p->size;

                if (p->auto_size) {
                        uint64_t headroom = p->free;
                        if (headroom == 0 && p->free_percent > 0) {
                                if (__builtin_mul_overflow(p->content / 100, p->free_percent,
                                                           &headroom))
                                        goto overflow;
                        }
                        if (add_overflows(p->content, headroom, &want))
                                goto overflow;
                        if (!l->auto_size && !grow)
                                grow = p;
                }
                if (want == 0)
                        want = DISK_ALIGN;
                if (align_up(want, &p->size))
                        goto overflow;
                p->offset = cur;
                if (add_overflows(cur, p->size, &cur))
                        goto overflow;
        }

        if (l->auto_size) {
                uint64_t total;
                if (add_overflows(cur, end_reserve, &total) || align_up(total, &l->size))
                        goto overflow;
                return 0;
        }

        if (l->size < DISK_ALIGN + end_reserve) {
                Mark m = {.file = l->size_where};
                diag_add(diag, &m, "disk.size: %llu bytes is too small for a partition table",
                         (unsigned long long)l->size);
                return -ENOSPC;
        }
        uint64_t usable_end = (l->size - end_reserve) & ~(DISK_ALIGN - 1);
        if (cur > usable_end) {
                /* Name the first partition that crosses the end. */
                for (size_t i = 0; i < l->n_partitions; i++) {
                        Partition *p = &l->partitions[i];
                        if (p->offset + p->size <= usable_end)
                                continue;
                        uint64_t left = p->offset < usable_end ? usable_end - p->offset : 0;
                        fmt(p->size, a);
                        fmt(left, b);
                        fmt(cur - usable_end, c);
                        Mark m = {.file = p->where};
                        diag_add(diag, &m,
                                 "partition %zu (%s) does not fit on the disk (disk.size at %s): "
                                 "it needs %s, %s left; the layout is short by %s",
                                 i + 1, partition_role_to_string(p->role), l->size_where, a, b, c);
                        return -ENOSPC;
                }
        }
        if (grow) {
                /* On a fixed-size disk the auto partition takes the space left. */
                uint64_t extra = usable_end - cur;
                grow->size += extra;
                for (Partition *p = grow + 1; p < l->partitions + l->n_partitions; p++)
                        p->offset += extra;
        }
        return 0;

overflow:
        diag_add(diag, NULL, "disk layout: sizes overflow 64 bits");
        return -EOVERFLOW;
}

static void vfat_serial(const uint8_t u[16], char out[10]) {
        snprintf(out, 10, "%02X%02X-%02X%02X", u[0], u[1], u[2], u[3]);
}

void disk_fs_uuid(const Partition *p, char out[37]) {
        if (p->fs == FS_VFAT)
                vfat_serial(p->fs_uuid, out);
        else
                uuid_format(p->fs_uuid, out);
}

char *disk_fstab(const DiskLayout *l) {
        Buffer b = {};
        char u[37];

        buffer_puts(&b, "# /etc/fstab: written by vmcompose from the image's disk layout.\n"
                        "# <file system> <mount point> <type> <options> <dump> <pass>\n");
        static const PartitionRole order[] = {ROLE_ROOT, ROLE_BOOT, ROLE_ESP, ROLE_SWAP};
        for (size_t k = 0; k < ELEMENTSOF(order); k++)
                for (size_t i = 0; i < l->n_partitions; i++) {
                        const Partition *p = &l->partitions[i];
                        if (p->role != order[k] || p->fs == FS_NONE)
                                continue;
                        disk_fs_uuid(p, u);
                        switch (p->role) {
                        case ROLE_ROOT:
                                if (p->fs == FS_EROFS)
                                        buffer_printf(&b, "UUID=%s / erofs ro 0 0\n", u);
                                else
                                        buffer_printf(&b, "UUID=%s / %s defaults%s 0 1\n", u,
                                                      fs_type_to_string(p->fs),
                                                      p->fs == FS_EXT4 ? ",errors=remount-ro" : "");
                                break;
                        case ROLE_BOOT:
                                buffer_printf(&b, "UUID=%s /boot %s defaults 0 2\n", u,
                                              fs_type_to_string(p->fs));
                                break;
                        case ROLE_ESP:
                                /* Mounted on first access, unmounted when idle: booting does
                                 * not wait for it, and vfat (no journal) is rarely mounted. */
                                buffer_printf(&b,
                                              "UUID=%s /boot/efi vfat umask=0077,noauto,"
                                              "x-systemd.automount,x-systemd.idle-timeout=60 "
                                              "0 2\n",
                                              u);
                                break;
                        case ROLE_SWAP:
                                buffer_printf(&b, "UUID=%s none swap sw 0 0\n", u);
                                break;
                        default:
                                break;
                        }
                }
        return buffer_steal(&b);
}

const Partition *disk_layout_root(const DiskLayout *l) {
        for (size_t i = 0; i < l->n_partitions; i++)
                if (l->partitions[i].role == ROLE_ROOT)
                        return &l->partitions[i];
        return NULL;
}

char *disk_root_cmdline(const DiskLayout *l) {
        const Partition *p = disk_layout_root(l);
        if (!p)
                return NULL;
        char u[37];
        if (l->gpt)
                uuid_format(p->uuid, u);
        else /* MBR: the disk signature and the partition number */
                snprintf(u, sizeof(u), "%02x%02x%02x%02x-%02zx", l->disk_uuid[0], l->disk_uuid[1],
                         l->disk_uuid[2], l->disk_uuid[3], (size_t)(p - l->partitions) + 1);
        return xasprintf("root=PARTUUID=%s rootfstype=%s", u, fs_type_to_string(p->fs));
}
