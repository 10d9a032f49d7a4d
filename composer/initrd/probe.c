/* SPDX-License-Identifier: MIT */
/* The pure parts of the initramfs init: command line, partition and filesystem identifiers,
 * the fsck decision. No system calls here, so the unit tests run it on the build host. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probe.h"
#include "vmcompose/endian.h"

size_t initrd_split_cmdline(char *line, char **words, size_t max) {
        size_t n = 0;
        char *p = line;

        for (;;) {
                while (*p && isspace((unsigned char)*p))
                        p++;
                if (!*p || n == max)
                        return n;
                /* A word ends at unquoted white space; quotes are dropped, as next_arg() does
                 * for the common forms (param="a b" and "param=a b"). */
                char *out = p;
                words[n++] = p;
                bool quoted = false;
                for (; *p && (quoted || !isspace((unsigned char)*p)); p++)
                        if (*p == '"')
                                quoted = !quoted;
                        else
                                *out++ = *p;
                bool end = !*p;
                *out = 0;
                if (end)
                        return n;
                p++;
        }
}

static const char *value_of(const char *word, const char *key) {
        size_t l = strlen(key);
        return strncmp(word, key, l) == 0 && word[l] == '=' ? word + l + 1 : NULL;
}

void initrd_parse_params(char *const *words, size_t n, InitParams *ret) {
        InitParams p = {.init = "/sbin/init", .fsck_mode = "auto"};
        const char *v;

        for (size_t i = 0; i < n; i++) {
                const char *w = words[i];
                if ((v = value_of(w, "root")))
                        p.root = v;
                else if ((v = value_of(w, "rootfstype")))
                        p.fstype = v;
                else if ((v = value_of(w, "rootflags")))
                        p.flags = v;
                else if ((v = value_of(w, "init")))
                        p.init = v;
                else if ((v = value_of(w, "fsck.mode")))
                        p.fsck_mode = v;
                else if ((v = value_of(w, "rootdelay")))
                        p.delay = (unsigned)strtoul(v, NULL, 10);
                else if (strcmp(w, "rootwait") == 0)
                        p.wait = true;
                else if (strcmp(w, "rw") == 0)
                        p.rw = true;
                else if (strcmp(w, "ro") == 0)
                        p.rw = false;
                else if (strcmp(w, "vmcompose.debug") == 0)
                        p.debug = true;
        }
        *ret = p;
}

/* Module names treat '-' and '_' alike. */
static bool module_name_eq(const char *a, const char *b, size_t len_a) {
        if (strlen(b) != len_a)
                return false;
        for (size_t i = 0; i < len_a; i++) {
                char x = a[i] == '-' ? '_' : a[i], y = b[i] == '-' ? '_' : b[i];
                if (x != y)
                        return false;
        }
        return true;
}

int initrd_module_params(char *const *words, size_t n, const char *module, char *buf, size_t size) {
        size_t used = 0;

        if (size == 0)
                return -1;
        buf[0] = 0;
        for (size_t i = 0; i < n; i++) {
                const char *dot = strchr(words[i], '.');
                const char *eq = strchr(words[i], '=');
                if (!dot || (eq && eq < dot) || dot == words[i] ||
                    !module_name_eq(words[i], module, (size_t)(dot - words[i])))
                        continue;
                /* A value with spaces goes back in quotes for the kernel's parser. */
                const char *param = dot + 1, *value = strchr(param, '=');
                int k = value && strchr(value, ' ')
                                ? snprintf(buf + used, size - used, "%s%.*s=\"%s\"",
                                           used ? " " : "", (int)(value - param), param, value + 1)
                                : snprintf(buf + used, size - used, "%s%s", used ? " " : "", param);
                if (k < 0 || (size_t)k >= size - used)
                        return -1;
                used += (size_t)k;
        }
        return 0;
}

/* GUIDs on disk: the first three fields little-endian, the rest as bytes. */
static void format_guid(const uint8_t g[16], char out[37]) {
        snprintf(out, 37, "%08x-%04x-%04x-%02x%02x-%02x%02x%02x%02x%02x%02x", le32(g), le16(g + 4),
                 le16(g + 6), g[8], g[9], g[10], g[11], g[12], g[13], g[14], g[15]);
}

static void format_uuid(const uint8_t u[16], char out[37]) {
        snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                 u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12],
                 u[13], u[14], u[15]);
}

int initrd_partuuid(const uint8_t sector0[512], unsigned sector_size, unsigned partno,
                    int (*read)(uint64_t offset, void *buf, size_t len, void *userdata),
                    void *userdata, char out[37], char *name, size_t name_size) {
        if (partno == 0 || sector0[510] != 0x55 || sector0[511] != 0xaa)
                return -1;
        if (name_size)
                name[0] = 0;
        bool gpt = false;
        for (unsigned i = 0; i < 4; i++)
                if (sector0[446 + 16 * i + 4] == 0xee)
                        gpt = true;
        if (!gpt) {
                /* The disk signature and the number, logical partitions (5 on) included: that
                 * the partition exists is the caller's to know (sysfs). */
                snprintf(out, 37, "%08x-%02x", le32(sector0 + 440), partno);
                return 0;
        }

        uint8_t hdr[92];
        if (read((uint64_t)sector_size, hdr, sizeof(hdr), userdata) < 0 ||
            memcmp(hdr, "EFI PART", 8) != 0)
                return -1;
        uint64_t entries = le64(hdr + 72);
        uint32_t count = le32(hdr + 80), size = le32(hdr + 84);
        if (partno > count || size < 128 || size > 4096)
                return -1;
        uint8_t e[128];
        if (read(entries * sector_size + (uint64_t)(partno - 1) * size, e, sizeof(e), userdata) < 0)
                return -1;
        static const uint8_t unused[16];
        if (memcmp(e, unused, 16) == 0)
                return -1;
        format_guid(e + 16, out);
        /* The name: UTF-16LE, kept when it is ASCII (PARTLABEL= matching). */
        size_t k = 0;
        for (size_t i = 0; i < 36 && k + 1 < name_size; i++) {
                uint16_t c = le16(e + 56 + 2 * i);
                if (c == 0)
                        break;
                name[k++] = c < 0x80 ? (char)c : '?';
        }
        if (name_size)
                name[k] = 0;
        return 0;
}

static void copy_label(char *dst, size_t dst_size, const uint8_t *src, size_t len) {
        size_t k = 0;
        for (; k < len && k + 1 < dst_size && src[k]; k++)
                dst[k] = (char)src[k];
        dst[k] = 0;
}

void initrd_probe_fs(const uint8_t *buf, size_t len, FsInfo *ret) {
        FsInfo f = {};

        if (len >= 2048 && le16(buf + 1024 + 56) == 0xef53) {
                const uint8_t *sb = buf + 1024;
                strcpy(f.type, "ext4"); /* the ext4 driver mounts ext2 and ext3 too */
                format_uuid(sb + 104, f.uuid);
                copy_label(f.label, sizeof(f.label), sb + 120, 16);
                f.mount_count = le16(sb + 52);
                f.max_mount_count = (int16_t)le16(sb + 54);
                f.state = le16(sb + 58);
                f.last_check = le32(sb + 64);
                f.check_interval = le32(sb + 68);
        } else if (len >= 120 && memcmp(buf, "XFSB", 4) == 0) {
                strcpy(f.type, "xfs");
                format_uuid(buf + 32, f.uuid);
                copy_label(f.label, sizeof(f.label), buf + 108, 12);
        } else if (len >= 65536 + 0x12b + 256 && memcmp(buf + 65536 + 64, "_BHRfS_M", 8) == 0) {
                strcpy(f.type, "btrfs");
                format_uuid(buf + 65536 + 32, f.uuid);
                copy_label(f.label, sizeof(f.label), buf + 65536 + 0x12b, 256);
        }
        *ret = f;
}

bool initrd_wants_check(const FsInfo *fs, const char *fsck_mode, uint64_t now, char *why,
                        size_t why_size) {
        const char *reason = NULL;
        char buf[96];

        if (strcmp(fs->type, "ext4") != 0 || strcmp(fsck_mode, "skip") == 0)
                return false;
        if (strcmp(fsck_mode, "force") == 0)
                reason = "fsck.mode=force";
        else if (!(fs->state & 1))
                reason = "not cleanly unmounted";
        else if (fs->state & 2)
                reason = "errors recorded";
        else if (fs->max_mount_count > 0 && fs->mount_count >= fs->max_mount_count) {
                snprintf(buf, sizeof(buf), "mounted %u times without a check", fs->mount_count);
                reason = buf;
        } else if (fs->check_interval && now < fs->last_check)
                reason = "last checked in the future";
        else if (fs->check_interval && now >= (uint64_t)fs->last_check + fs->check_interval)
                reason = "the check interval has passed";
        if (reason && why_size)
                snprintf(why, why_size, "%s", reason);
        return reason != NULL;
}
