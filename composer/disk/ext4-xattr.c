/* SPDX-License-Identifier: MIT */
/* Extended attributes in ext4's form: the name index and suffix, POSIX ACLs converted from the
 * kernel's xattr form to ext4's, entries sorted, laid out with their hashes
 * (ext2_ext_attr_hash_entry) for an inode's spare space or an xattr block. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include "disk-internal.h"
#include "vmcompose/log.h"
#include "vmcompose/macro.h"

/* Extended attributes: the name index and the name after the prefix. The two ACL names are
 * whole names (index 2 and 3, empty suffix). */
static int xattr_index(const char *name, const char **ret_suffix) {
        static const struct {
                const char *prefix;
                int index;
        } map[] = {{"user.", 1},
                   {"system.posix_acl_access", 2},
                   {"system.posix_acl_default", 3},
                   {"trusted.", 4},
                   {"security.", 6}};
        for (size_t i = 0; i < ELEMENTSOF(map); i++)
                if (strneq(name, map[i].prefix, strlen(map[i].prefix))) {
                        *ret_suffix = name + strlen(map[i].prefix);
                        if ((map[i].index == 2 || map[i].index == 3) && **ret_suffix)
                                break;
                        return map[i].index;
                }
        return -EOPNOTSUPP; /* other system.* names have no on-disk form here */
}

/* A POSIX ACL from the kernel's xattr form (version 2, 8-byte entries) to ext4's (version 1,
 * 4-byte entries for the owner, group, mask and other, 8-byte ones for named users and
 * groups). Returns the new size, or -EOPNOTSUPP for what is not an ACL. */
static ssize_t acl_to_disk(const uint8_t *in, size_t size, uint8_t *out) {
        if (size < 4 || (size - 4) % 8 != 0 || le32(in) != 2)
                return -EOPNOTSUPP;
        size_t o = 4;
        put_le32(out, 1);
        for (size_t i = 4; i < size; i += 8) {
                uint16_t tag = le16(in + i);
                memcpy(out + o, in + i, 4); /* tag and permissions */
                o += 4;
                if (tag == 0x02 || tag == 0x08) { /* ACL_USER, ACL_GROUP: the id too */
                        memcpy(out + o, in + i + 4, 4);
                        o += 4;
                } else if (tag != 0x01 && tag != 0x04 && tag != 0x10 && tag != 0x20)
                        return -EOPNOTSUPP;
        }
        return (ssize_t)o;
}

static int cmp_xattr(const void *a, const void *b) {
        const Ext4Xattr *x = a, *y = b;
        if (x->index != y->index)
                return x->index - y->index;
        size_t lx = strlen(x->name), ly = strlen(y->name);
        if (lx != ly)
                return lx < ly ? -1 : 1;
        return strcmp(x->name, y->name);
}

void ext4_xattrs_free(Ext4Xattr *l, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(l[i].name);
                free(l[i].value);
        }
        free(l);
}

int ext4_xattrs_read(int dir_fd, const char *name, Ext4Xattr **ret, size_t *ret_n) {
        _cleanup_free_ char *path = xasprintf("/proc/self/fd/%d/%s", dir_fd, name);
        char list[8192];
        ssize_t len = llistxattr(path, list, sizeof(list));
        Ext4Xattr *l = NULL;
        size_t n = 0;

        *ret = NULL;
        *ret_n = 0;
        if (len < 0)
                return errno == ENOTSUP ? 0 : -errno;
        for (ssize_t i = 0; i < len; i += (ssize_t)strlen(list + i) + 1) {
                const char *suffix;
                int index = xattr_index(list + i, &suffix);
                if (index < 0) {
                        ext4_xattrs_free(l, n);
                        log_debug_sub("disk", "ext4: %s has xattr %s", name, list + i);
                        return index;
                }
                uint8_t value[4096];
                ssize_t vs = lgetxattr(path, list + i, value, sizeof(value));
                if (vs < 0) {
                        int r = errno == ERANGE ? -EOPNOTSUPP : -errno;
                        ext4_xattrs_free(l, n);
                        return r;
                }
                l = xrealloc(l, (n + 1) * sizeof(Ext4Xattr));
                l[n] = (Ext4Xattr){index, xstrdup(suffix), xmalloc((size_t)vs + 1), (size_t)vs};
                memcpy(l[n].value, value, (size_t)vs);
                n++;
                if (index == 2 || index == 3) {
                        ssize_t as = acl_to_disk(value, (size_t)vs, l[n - 1].value);
                        if (as < 0) {
                                ext4_xattrs_free(l, n);
                                return (int)as;
                        }
                        l[n - 1].size = (size_t)as;
                }
        }
        if (n > 0)
                qsort(l, n, sizeof(Ext4Xattr), cmp_xattr);
        *ret = l;
        *ret_n = n;
        return 0;
}

#define XATTR_ROUND(x) (((x) + 3u) & ~3u)

/* ext2_ext_attr_hash_entry(): the hash of an entry's name and value. */
static uint32_t xattr_entry_hash(const Ext4Xattr *x) {
        uint32_t h = 0;
        for (const char *c = x->name; *c; c++)
                h = (h << 5) ^ (h >> 27) ^ (uint32_t)(signed char)*c;
        for (size_t i = 0; i < XATTR_ROUND(x->size) / 4; i++) {
                uint8_t w[4] = {0};
                memcpy(w, x->value + i * 4, MIN((size_t)4, x->size - i * 4));
                h = (h << 16) ^ (h >> 16) ^ le32(w);
        }
        return h;
}

/* Lays out entries from first and values counted back from end; the values' offsets are
 * relative to base (the first entry in an inode, the block's start in a block). Returns false
 * when they do not fit. */
bool ext4_xattrs_layout(const Ext4Xattr *l, size_t n, uint8_t *base, uint8_t *first, uint8_t *end) {
        uint8_t *ent = first, *val = end;
        for (size_t i = 0; i < n; i++) {
                size_t nl = strlen(l[i].name);
                val -= XATTR_ROUND(l[i].size);
                if (ent + EXT4_XATTR_ENTRY_SIZE(nl) + 4 > val)
                        return false;
                ent[0] = (uint8_t)nl;
                ent[1] = (uint8_t)l[i].index;
                put_le16(ent + 2, (uint16_t)(val - base));
                put_le32(ent + 4, 0);
                put_le32(ent + 8, (uint32_t)l[i].size);
                put_le32(ent + 12, xattr_entry_hash(&l[i]));
                memcpy(ent + 16, l[i].name, nl);
                memcpy(val, l[i].value, l[i].size);
                ent += EXT4_XATTR_ENTRY_SIZE(nl);
        }
        return true;
}
