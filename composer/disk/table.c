/* SPDX-License-Identifier: MIT */
/* The partition table, written by libfdisk onto a plain file, and read back to verify. */
#include <libfdisk/libfdisk.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "disk-internal.h"
#include "vmcompose/hash.h"
#include "vmcompose/log.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct fdisk_context *, fdisk_unref_context);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct fdisk_partition *, fdisk_unref_partition);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct fdisk_table *, fdisk_unref_table);

static void mbr_id(const DiskLayout *l, char out[16]) {
        snprintf(out, 16, "0x%02x%02x%02x%02x", l->disk_uuid[0], l->disk_uuid[1], l->disk_uuid[2],
                 l->disk_uuid[3]);
}

static int open_context(const char *path, bool readonly, struct fdisk_context **ret) {
        _cleanup_(fdisk_unref_contextp) struct fdisk_context *c = fdisk_new_context();
        int r;

        if (!c)
                return -ENOMEM;
        fdisk_disable_dialogs(c, 1);
        r = fdisk_assign_device(c, path, readonly);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(c);
        return 0;
}

static struct fdisk_parttype *type_for(struct fdisk_label *lb, const DiskLayout *l,
                                       const Partition *p) {
        if (l->gpt)
                return fdisk_label_advparse_parttype(lb,
                                                     partition_gpt_type(p->role, l->architecture),
                                                     FDISK_PARTTYPE_PARSE_DATA);
        return fdisk_label_get_parttype_from_code(lb, partition_mbr_type(p->role));
}

int disk_write_table(const DiskLayout *l, const char *path) {
        _cleanup_(fdisk_unref_contextp) struct fdisk_context *c = NULL;
        char id[40];
        int r;

        r = open_context(path, false, &c);
        if (r < 0)
                return log_error_errno(r, "libfdisk: cannot open %s: %m", path);
        r = fdisk_create_disklabel(c, l->gpt ? "gpt" : "dos");
        if (r < 0)
                return log_error_errno(r, "libfdisk: cannot create a %s label: %m",
                                       l->gpt ? "GPT" : "MBR");
        if (l->gpt)
                uuid_format(l->disk_uuid, id);
        else
                mbr_id(l, id);
        r = fdisk_set_disklabel_id_from_string(c, id);
        if (r < 0)
                return log_error_errno(r, "libfdisk: cannot set the disk identifier: %m");

        struct fdisk_label *lb = fdisk_get_label(c, NULL);
        for (size_t i = 0; i < l->n_partitions; i++) {
                const Partition *p = &l->partitions[i];
                _cleanup_(fdisk_unref_partitionp) struct fdisk_partition *pa =
                        fdisk_new_partition();
                struct fdisk_parttype *t = type_for(lb, l, p);
                if (!pa || !t)
                        return log_error_errno(ENOMEM, "libfdisk: cannot describe partition %zu",
                                               i + 1);
                fdisk_partition_set_partno(pa, i);
                fdisk_partition_set_start(pa, p->offset / DISK_SECTOR_SIZE);
                fdisk_partition_set_size(pa, p->size / DISK_SECTOR_SIZE);
                r = fdisk_partition_set_type(pa, t);
                fdisk_unref_parttype(t); /* frees only a type made for us; pa holds a ref */
                if (l->gpt) {
                        char u[37];
                        uuid_format(p->uuid, u);
                        if (r >= 0)
                                r = fdisk_partition_set_uuid(pa, u);
                        if (r >= 0 && p->label)
                                r = fdisk_partition_set_name(pa, p->label);
                }
                if (r < 0)
                        return log_error_errno(r, "libfdisk: partition %zu: %m", i + 1);
                size_t partno;
                r = fdisk_add_partition(c, pa, &partno);
                if (r < 0)
                        return log_error_errno(r, "libfdisk: cannot add partition %zu (%s): %m",
                                               i + 1, p->where);
                /* GRUB on MBR and some BIOSes want an active partition. */
                if (!l->gpt && (p->role == ROLE_ROOT || p->role == ROLE_BOOT)) {
                        bool has_boot = false;
                        for (size_t j = 0; j < l->n_partitions; j++)
                                has_boot |= l->partitions[j].role == ROLE_BOOT;
                        if (p->role == ROLE_BOOT || !has_boot) {
                                r = fdisk_toggle_partition_flag(c, partno, DOS_FLAG_ACTIVE);
                                if (r < 0)
                                        return log_error_errno(r, "libfdisk: bootable flag: %m");
                        }
                }
        }
        r = fdisk_write_disklabel(c);
        if (r < 0)
                return log_error_errno(r, "libfdisk: cannot write the partition table to %s: %m",
                                       path);
        r = fdisk_deassign_device(c, 0);
        if (r < 0)
                return log_error_errno(r, "libfdisk: cannot close %s: %m", path);
        return 0;
}

int disk_verify_table(const DiskLayout *l, const char *path) {
        _cleanup_(fdisk_unref_contextp) struct fdisk_context *c = NULL;
        _cleanup_(fdisk_unref_tablep) struct fdisk_table *tb = NULL;
        _cleanup_free_ char *id = NULL;
        char want[40];
        int r, bad = 0;

        r = open_context(path, true, &c);
        if (r < 0)
                return log_error_errno(r, "verify: libfdisk cannot read %s: %m", path);
        if (!fdisk_has_label(c) ||
            !fdisk_is_labeltype(c, l->gpt ? FDISK_DISKLABEL_GPT : FDISK_DISKLABEL_DOS)) {
                log_error("verify: %s has no %s partition table", path, l->gpt ? "GPT" : "MBR");
                return -EBADMSG;
        }
        if (l->gpt)
                uuid_format(l->disk_uuid, want);
        else
                mbr_id(l, want);
        if (fdisk_get_disklabel_id(c, &id) < 0 || !id || strcasecmp(id, want) != 0) {
                log_error("verify: disk identifier is %s, expected %s", id ? id : "?", want);
                bad++;
        }
        r = fdisk_get_partitions(c, &tb);
        if (r < 0)
                return log_error_errno(r, "verify: cannot list partitions: %m");
        if (fdisk_table_get_nents(tb) != l->n_partitions) {
                log_error("verify: %zu partitions on disk, expected %zu", fdisk_table_get_nents(tb),
                          l->n_partitions);
                return -EBADMSG;
        }
        for (size_t i = 0; i < l->n_partitions; i++) {
                const Partition *p = &l->partitions[i];
                struct fdisk_partition *pa = fdisk_table_get_partition(tb, i);
                struct fdisk_parttype *t = pa ? fdisk_partition_get_type(pa) : NULL;
                if (!pa || !t) {
                        log_error("verify: partition %zu missing", i + 1);
                        bad++;
                        continue;
                }
                if (fdisk_partition_get_start(pa) * DISK_SECTOR_SIZE != p->offset ||
                    fdisk_partition_get_size(pa) * DISK_SECTOR_SIZE != p->size) {
                        log_error("verify: partition %zu is at %llu+%llu sectors, expected "
                                  "%llu+%llu",
                                  i + 1, (unsigned long long)fdisk_partition_get_start(pa),
                                  (unsigned long long)fdisk_partition_get_size(pa),
                                  (unsigned long long)(p->offset / DISK_SECTOR_SIZE),
                                  (unsigned long long)(p->size / DISK_SECTOR_SIZE));
                        bad++;
                }
                if (l->gpt) {
                        const char *type = fdisk_parttype_get_string(t);
                        const char *uuid = fdisk_partition_get_uuid(pa);
                        const char *name = fdisk_partition_get_name(pa);
                        char u[37];
                        uuid_format(p->uuid, u);
                        if (!type ||
                            strcasecmp(type, partition_gpt_type(p->role, l->architecture))) {
                                log_error("verify: partition %zu has type %s, expected %s", i + 1,
                                          type ? type : "?",
                                          partition_gpt_type(p->role, l->architecture));
                                bad++;
                        }
                        if (!uuid || strcasecmp(uuid, u)) {
                                log_error("verify: partition %zu has UUID %s, expected %s", i + 1,
                                          uuid ? uuid : "?", u);
                                bad++;
                        }
                        if (!streq(name ? name : "", p->label ? p->label : "")) {
                                log_error("verify: partition %zu is named '%s', expected '%s'",
                                          i + 1, name ? name : "", p->label ? p->label : "");
                                bad++;
                        }
                } else if (fdisk_parttype_get_code(t) != partition_mbr_type(p->role)) {
                        log_error("verify: partition %zu has type 0x%02x, expected 0x%02x", i + 1,
                                  fdisk_parttype_get_code(t), partition_mbr_type(p->role));
                        bad++;
                }
        }
        return bad ? -EBADMSG : 0;
}
