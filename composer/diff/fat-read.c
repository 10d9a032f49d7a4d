/* SPDX-License-Identifier: MIT */
/* A read-only FAT12/16/32 reader for `vmcompose diff`: the boot sector's geometry, the FAT,
 * directories with their long (VFAT) names, and each file's content hashed cluster run by
 * cluster run. Everything read is untrusted: every cluster number, chain and size is checked,
 * and a cluster may belong to one file or directory only, so a chain that loops or two files
 * sharing clusters are reported as corruption rather than followed. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "vmcompose/diff.h"
#include "vmcompose/endian.h"

#define FAT_MAX_DEPTH 64
#define FAT_MAX_DIR_BYTES (4u << 20)
#define FAT_MAX_TABLE_BYTES (256u << 20)
#define FAT_READ_CHUNK (1u << 20)

typedef struct Fat {
        const DiffReader *r;
        unsigned bits; /* 12, 16, 32 */
        uint32_t sector_size, cluster_size;
        uint64_t fat_offset, root_offset, data_offset;
        uint32_t root_entries; /* FAT12/16: the fixed root directory */
        uint32_t root_cluster; /* FAT32 */
        uint32_t n_clusters;   /* data clusters: valid numbers are 2 .. n_clusters + 1 */
        uint8_t *table;        /* the first FAT */
        uint8_t *used;         /* one bit per cluster: already part of a file or directory */
        char *error;
        DiffTree *tree;
        uint8_t *chunk;
} Fat;

static int fat_bad(Fat *f, const char *fmt, ...) _printf_(2, 3);
static int fat_bad(Fat *f, const char *fmt, ...) {
        va_list ap;

        if (!f->error) {
                va_start(ap, fmt);
                if (vasprintf(&f->error, fmt, ap) < 0)
                        oom_fatal();
                va_end(ap);
        }
        return -EBADMSG;
}

static int fat_read(Fat *f, void *buf, size_t size, uint64_t offset) {
        if (offset > f->r->size || size > f->r->size - offset)
                return fat_bad(f, "data at byte %llu lies beyond the end of the filesystem",
                               (unsigned long long)offset);
        return f->r->read(f->r->userdata, buf, size, offset);
}

static uint32_t fat_next(const Fat *f, uint32_t c) {
        switch (f->bits) {
        case 12: {
                uint32_t v = le16(f->table + c + c / 2);
                return c & 1 ? v >> 4 : v & 0xfff;
        }
        case 16:
                return le16(f->table + 2 * (size_t)c);
        default:
                return le32(f->table + 4 * (size_t)c) & 0x0fffffff;
        }
}

static bool fat_is_end(const Fat *f, uint32_t v) {
        return v >= (f->bits == 12 ? 0xff8u : f->bits == 16 ? 0xfff8u : 0x0ffffff8u);
}

static uint64_t cluster_offset(const Fat *f, uint32_t c) {
        return f->data_offset + (uint64_t)(c - 2) * f->cluster_size;
}

/* Follows the chain from first; calls fn on runs of consecutive clusters (offset, bytes), at
 * most limit bytes in all (UINT64_MAX: the whole chain). Returns the bytes the chain covers
 * (up to limit) or a negative errno. */
static int64_t fat_walk_chain(Fat *f, uint32_t first, uint64_t limit,
                              int (*fn)(Fat *f, uint64_t offset, size_t size, void *userdata),
                              void *userdata) {
        uint64_t covered = 0, run_offset = 0, run_size = 0;
        uint32_t c = first;
        int r;

        while (covered < limit) {
                if (c < 2 || c >= f->n_clusters + 2)
                        return fat_bad(f, "cluster chain from %u reaches invalid cluster %u", first,
                                       c);
                if (f->used[c / 8] & (1u << (c % 8)))
                        return fat_bad(f, "cluster %u is used twice (a loop or cross-link)", c);
                f->used[c / 8] |= (uint8_t)(1u << (c % 8));
                uint64_t take = MIN((uint64_t)f->cluster_size, limit - covered);
                uint64_t off = cluster_offset(f, c);
                if (run_size > 0 && run_offset + run_size == off &&
                    run_size + take <= FAT_READ_CHUNK)
                        run_size += take;
                else {
                        if (run_size > 0 && fn) {
                                r = fn(f, run_offset, run_size, userdata);
                                if (r < 0)
                                        return r;
                        }
                        run_offset = off;
                        run_size = take;
                }
                covered += take;
                uint32_t next = fat_next(f, c);
                if (fat_is_end(f, next))
                        break;
                c = next;
        }
        if (run_size > 0 && fn) {
                r = fn(f, run_offset, run_size, userdata);
                if (r < 0)
                        return r;
        }
        return (int64_t)covered;
}

static int hash_run(Fat *f, uint64_t offset, size_t size, void *userdata) {
        Sha256 *h = userdata;
        int r = fat_read(f, f->chunk, size, offset);
        if (r < 0)
                return r;
        sha256_update(h, f->chunk, size);
        return 0;
}

typedef struct Collect {
        uint8_t *data;
        size_t size, allocated;
} Collect;

static int collect_run(Fat *f, uint64_t offset, size_t size, void *userdata) {
        Collect *c = userdata;
        if (c->size + size > FAT_MAX_DIR_BYTES)
                return fat_bad(f, "a directory larger than %u bytes", FAT_MAX_DIR_BYTES);
        if (c->size + size > c->allocated) {
                c->allocated = MAX(c->allocated * 2, c->size + size);
                c->data = xrealloc(c->data, c->allocated);
        }
        int r = fat_read(f, c->data + c->size, size, offset);
        if (r < 0)
                return r;
        c->size += size;
        return 0;
}

/* UTF-16LE to UTF-8 (unpaired surrogates become U+FFFD). */
static void utf16_to_utf8(const uint16_t *s, size_t n, Buffer *out) {
        for (size_t i = 0; i < n; i++) {
                uint32_t cp = s[i];
                if (cp >= 0xd800 && cp < 0xdc00 && i + 1 < n && s[i + 1] >= 0xdc00 &&
                    s[i + 1] < 0xe000) {
                        cp = 0x10000 + ((cp - 0xd800) << 10) + (s[i + 1] - 0xdc00);
                        i++;
                } else if (cp >= 0xd800 && cp < 0xe000)
                        cp = 0xfffd;
                char u[4];
                size_t k;
                if (cp < 0x80) {
                        u[0] = (char)cp;
                        k = 1;
                } else if (cp < 0x800) {
                        u[0] = (char)(0xc0 | cp >> 6);
                        u[1] = (char)(0x80 | (cp & 0x3f));
                        k = 2;
                } else if (cp < 0x10000) {
                        u[0] = (char)(0xe0 | cp >> 12);
                        u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
                        u[2] = (char)(0x80 | (cp & 0x3f));
                        k = 3;
                } else {
                        u[0] = (char)(0xf0 | cp >> 18);
                        u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
                        u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
                        u[3] = (char)(0x80 | (cp & 0x3f));
                        k = 4;
                }
                buffer_append(out, u, k);
        }
}

static uint8_t short_name_checksum(const uint8_t *name) {
        uint8_t sum = 0;
        for (int i = 0; i < 11; i++)
                sum = (uint8_t)(((sum & 1) << 7) + (sum >> 1) + name[i]);
        return sum;
}

/* "NAME.EXT" from the 8.3 entry, honouring the lower-case flags (byte 12) Windows NT and
 * Linux write. */
static void short_name(const uint8_t *e, Buffer *out) {
        char base[9], ext[4];
        size_t nb = 8, ne = 3;

        memcpy(base, e, 8);
        memcpy(ext, e + 8, 3);
        if ((uint8_t)base[0] == 0x05)
                base[0] = (char)0xe5;
        while (nb > 0 && base[nb - 1] == ' ')
                nb--;
        while (ne > 0 && ext[ne - 1] == ' ')
                ne--;
        for (size_t i = 0; i < nb; i++)
                if ((e[12] & 0x08) && base[i] >= 'A' && base[i] <= 'Z')
                        base[i] = (char)(base[i] - 'A' + 'a');
        for (size_t i = 0; i < ne; i++)
                if ((e[12] & 0x10) && ext[i] >= 'A' && ext[i] <= 'Z')
                        ext[i] = (char)(ext[i] - 'A' + 'a');
        buffer_append(out, base, nb);
        if (ne > 0) {
                buffer_putc(out, '.');
                buffer_append(out, ext, ne);
        }
}

static int64_t fat_time(uint16_t date, uint16_t time) {
        struct tm tm = {
                .tm_year = 80 + (date >> 9),
                .tm_mon = ((date >> 5) & 0xf) - 1,
                .tm_mday = date & 0x1f,
                .tm_hour = time >> 11,
                .tm_min = (time >> 5) & 0x3f,
                .tm_sec = (time & 0x1f) * 2,
        };
        if (date == 0)
                return 0;
        return (int64_t)timegm(&tm);
}

static int fat_read_dir(Fat *f, const char *path, uint32_t cluster, unsigned depth);

static int fat_add_entry(Fat *f, const char *dir_path, const char *name, const uint8_t *e,
                         unsigned depth) {
        uint32_t cluster = (uint32_t)le16(e + 20) << 16 | le16(e + 26);
        uint8_t attr = e[11];

        if (f->bits != 32)
                cluster &= 0xffff;
        if (!*name || strchr(name, '/') || streq(name, ".") || streq(name, ".."))
                return fat_bad(f, "%s: invalid file name '%s'", dir_path, name);
        _cleanup_free_ char *path =
                streq(dir_path, "/") ? xasprintf("/%s", name) : xasprintf("%s/%s", dir_path, name);
        DiffFile *file = diff_tree_add(f->tree, path);
        file->mtime = fat_time(le16(e + 24), le16(e + 22));
        file->uid = file->gid = 0;
        if (attr & 0x10) {
                file->mode = S_IFDIR | ((attr & 0x01) ? 0555 : 0755);
                if (cluster == 0)
                        return fat_bad(f, "%s: a directory without clusters", path);
                return fat_read_dir(f, path, cluster, depth + 1);
        }
        file->mode = S_IFREG | ((attr & 0x01) ? 0444 : 0644);
        file->size = le32(e + 28);
        file->has_digest = true;
        Sha256 *h = sha256_new();
        if (file->size > 0) {
                if (cluster == 0) {
                        sha256_finish(h, file->sha256);
                        return fat_bad(f, "%s: %llu bytes but no clusters", path,
                                       (unsigned long long)file->size);
                }
                int64_t n = fat_walk_chain(f, cluster, file->size, hash_run, h);
                if (n >= 0 && (uint64_t)n < file->size)
                        n = fat_bad(f, "%s: cluster chain ends after %lld of %llu bytes", path,
                                    (long long)n, (unsigned long long)file->size);
                if (n < 0) {
                        sha256_finish(h, file->sha256);
                        return (int)n;
                }
        }
        sha256_finish(h, file->sha256);
        return 0;
}

static int fat_parse_dir(Fat *f, const char *path, const uint8_t *d, size_t size, unsigned depth) {
        uint16_t lfn[20 * 13 + 1];
        int lfn_count = 0, lfn_next = 0; /* entries in the sequence; the one expected next */
        uint8_t lfn_sum = 0;
        int r;

        for (size_t off = 0; off + 32 <= size; off += 32) {
                const uint8_t *e = d + off;
                if (e[0] == 0x00)
                        break;
                if (e[0] == 0xe5) {
                        lfn_next = 0;
                        continue;
                }
                if ((e[11] & 0x3f) == 0x0f) { /* a long-name entry */
                        unsigned ord = e[0] & 0x3f;
                        if (e[0] & 0x40) {
                                if (ord == 0 || ord > 20) {
                                        lfn_next = 0;
                                        continue;
                                }
                                lfn_count = (int)ord;
                                lfn_sum = e[13];
                                memset(lfn, 0xff, sizeof(lfn));
                        } else if ((int)ord != lfn_next || e[13] != lfn_sum) {
                                lfn_next = 0;
                                continue;
                        }
                        static const uint8_t pos[13] = {1,  3,  5,  7,  9,  14, 16,
                                                        18, 20, 22, 24, 28, 30};
                        for (int i = 0; i < 13; i++)
                                lfn[(ord - 1) * 13 + i] = le16(e + pos[i]);
                        lfn_next = (int)ord - 1;
                        continue;
                }
                bool have_lfn = lfn_next == 0 && lfn_count > 0 && short_name_checksum(e) == lfn_sum;
                int count = lfn_count;
                lfn_count = 0;
                lfn_next = 0;
                if (e[11] & 0x08) /* the volume label */
                        continue;
                if (e[0] == '.' && (e[1] == ' ' || (e[1] == '.' && e[2] == ' ')))
                        continue;
                Buffer name = {};
                if (have_lfn) {
                        size_t n = 0;
                        while (n < (size_t)count * 13 && lfn[n] != 0x0000 && lfn[n] != 0xffff)
                                n++;
                        utf16_to_utf8(lfn, n, &name);
                } else
                        short_name(e, &name);
                buffer_putc(&name, 0);
                r = fat_add_entry(f, path, name.data, e, depth);
                buffer_done(&name);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int fat_read_dir(Fat *f, const char *path, uint32_t cluster, unsigned depth) {
        Collect c = {};
        int r;

        if (depth > FAT_MAX_DEPTH)
                return fat_bad(f, "%s: directories nested deeper than %d", path, FAT_MAX_DEPTH);
        if (cluster == 0) { /* the fixed root directory of FAT12/16 */
                c.size = (size_t)f->root_entries * 32;
                c.data = xmalloc(c.size ? c.size : 1);
                r = fat_read(f, c.data, c.size, f->root_offset);
        } else {
                int64_t n = fat_walk_chain(f, cluster, UINT64_MAX, collect_run, &c);
                r = n < 0 ? (int)n : 0;
        }
        if (r >= 0)
                r = fat_parse_dir(f, path, c.data, c.size, depth);
        free(c.data);
        return r;
}

static int fat_geometry(Fat *f, const uint8_t *b) {
        uint32_t sector = le16(b + 11), per_cluster = b[13], reserved = le16(b + 14);
        uint32_t n_fats = b[16], root_entries = le16(b + 17);
        uint64_t total = le16(b + 19) ? le16(b + 19) : le32(b + 32);
        uint64_t fat_sectors = le16(b + 22) ? le16(b + 22) : le32(b + 36);

        if (b[510] != 0x55 || b[511] != 0xaa)
                return fat_bad(f, "no boot sector signature");
        if (sector != 512 && sector != 1024 && sector != 2048 && sector != 4096)
                return fat_bad(f, "invalid sector size %u", sector);
        if (per_cluster == 0 || (per_cluster & (per_cluster - 1)) || per_cluster > 128)
                return fat_bad(f, "invalid sectors per cluster %u", per_cluster);
        if (reserved == 0 || n_fats == 0 || fat_sectors == 0 || total == 0)
                return fat_bad(f, "invalid boot sector (reserved sectors, FATs or size zero)");
        uint64_t root_sectors = ((uint64_t)root_entries * 32 + sector - 1) / sector;
        uint64_t meta = reserved + n_fats * fat_sectors + root_sectors;
        if (meta >= total)
                return fat_bad(f, "the FATs and root directory fill the whole volume");
        if (total * sector > f->r->size)
                return fat_bad(f, "the volume (%llu bytes) is larger than its partition",
                               (unsigned long long)(total * sector));
        uint64_t clusters = (total - meta) / per_cluster;
        f->bits = clusters < 4085 ? 12 : clusters < 65525 ? 16 : 32;
        if (f->bits == 32 && clusters > 0x0ffffff5)
                return fat_bad(f, "too many clusters");
        if ((f->bits == 32) != (root_entries == 0))
                return fat_bad(f, "FAT%u with %u root directory entries", f->bits, root_entries);
        uint64_t need = (clusters + 2) * f->bits / 8 + 2;
        if (fat_sectors * sector < need || fat_sectors * sector > FAT_MAX_TABLE_BYTES)
                return fat_bad(f, "a FAT of %llu bytes for %llu clusters",
                               (unsigned long long)(fat_sectors * sector),
                               (unsigned long long)clusters);
        f->sector_size = sector;
        f->cluster_size = sector * per_cluster;
        f->n_clusters = (uint32_t)clusters;
        f->fat_offset = (uint64_t)reserved * sector;
        f->root_offset = (reserved + n_fats * fat_sectors) * sector;
        f->data_offset = meta * sector;
        f->root_entries = root_entries;
        f->root_cluster = f->bits == 32 ? le32(b + 44) : 0;
        f->tree->fs_size = total * sector;
        if (f->bits == 32 && f->root_cluster < 2)
                return fat_bad(f, "invalid root cluster %u", f->root_cluster);
        return 0;
}

int diff_fat_read(const DiffReader *reader, DiffTree *ret, char **ret_error) {
        Fat f = {.r = reader, .tree = ret};
        uint8_t boot[512];
        int r;

        *ret = (DiffTree){};
        if (reader->size < sizeof(boot)) {
                *ret_error = xstrdup("too small for a FAT boot sector");
                return -EBADMSG;
        }
        r = reader->read(reader->userdata, boot, sizeof(boot), 0);
        if (r >= 0)
                r = fat_geometry(&f, boot);
        if (r >= 0) {
                size_t table_size = ((size_t)f.n_clusters + 2) * f.bits / 8 + 2;
                f.table = xmalloc(table_size);
                r = fat_read(&f, f.table, table_size, f.fat_offset);
        }
        if (r >= 0) {
                f.used = xcalloc(((size_t)f.n_clusters + 2) / 8 + 1, 1);
                f.chunk = xmalloc(FAT_READ_CHUNK);
                DiffFile *root = diff_tree_add(ret, "/");
                root->mode = S_IFDIR | 0755;
                r = fat_read_dir(&f, "/", f.root_cluster, 0);
        }
        free(f.table);
        free(f.used);
        free(f.chunk);
        if (r < 0) {
                *ret_error = f.error ? f.error : xasprintf("read error: %s", strerror(-r));
                diff_tree_done(ret);
                return r == -EIO ? -EBADMSG : r;
        }
        diff_tree_sort(ret);
        return 0;
}
