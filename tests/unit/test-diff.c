/* SPDX-License-Identifier: MIT */
/* `vmcompose diff`'s pure parts: comparing file lists and package lists, dpkg's status and
 * .list files, the report (text and JSON), the qcow2 and VHDX readers on images from
 * vmcompose's writers and qemu-img, and the FAT reader on images made by mkfs.vfat and mcopy
 * (skipped, exit 77, when dosfstools or mtools are missing). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "vmcompose/diff.h"
#include "vmcompose/endian.h"
#include "vmcompose/node.h"
#include "vmcompose/output.h"
#include "vmcompose/sparse.h"
#include "vmcompose/spawn.h"
#include <sys/mman.h>

static DiffFile *add(DiffTree *t, const char *path, uint32_t mode, const char *content) {
        DiffFile *f = diff_tree_add(t, path);
        f->mode = mode;
        f->mtime = 1700000000;
        if (S_ISREG(mode)) {
                f->size = strlen(content);
                f->has_digest = true;
                sha256(content, f->size, f->sha256);
        } else if (S_ISLNK(mode)) {
                f->link = xstrdup(content);
                f->size = strlen(content);
        }
        return f;
}

static void sample_trees(DiffTree *a, DiffTree *b) {
        *a = (DiffTree){};
        *b = (DiffTree){};
        add(a, "/", S_IFDIR | 0755, NULL);
        add(b, "/", S_IFDIR | 0755, NULL);
        add(a, "/etc/motd", S_IFREG | 0644, "hello\n");
        add(b, "/etc/motd", S_IFREG | 0600, "hello\n");
        add(a, "/etc/ssh/sshd_config", S_IFREG | 0644, "Port 22\n");
        add(b, "/etc/ssh/sshd_config", S_IFREG | 0644, "Port 2222\n");
        add(b, "/usr/bin/nano", S_IFREG | 0755, "nano binary");
        add(a, "/usr/bin/gone", S_IFREG | 0755, "old");
        add(a, "/etc/link", S_IFLNK | 0777, "motd");
        add(b, "/etc/link", S_IFLNK | 0777, "issue");
        add(a, "/etc/same", S_IFREG | 0644, "same");
        add(b, "/etc/same", S_IFREG | 0644, "same")->mtime = 1700000001;
        diff_tree_sort(a);
        diff_tree_sort(b);
}

static void test_trees(void **state) {
        (void)state;
        DiffTree a, b;
        DiffOwners oa = {}, ob = {};
        DiffOptions o = {};
        DiffFsResult r = {};
        const char nano_list[] = "/.\n/usr\n/usr/bin\n/usr/bin/nano\n";
        const char ssh_list[] = "/.\n/etc/ssh\n/etc/ssh/sshd_config\n";

        sample_trees(&a, &b);
        assert_non_null(diff_tree_find(&a, "/etc/motd"));
        assert_null(diff_tree_find(&a, "/usr/bin/nano"));
        diff_owners_add_list(&ob, "nano", nano_list, sizeof(nano_list) - 1);
        diff_owners_add_list(&ob, "openssh-server", ssh_list, sizeof(ssh_list) - 1);
        diff_owners_add_list(&oa, "openssh-server", ssh_list, sizeof(ssh_list) - 1);
        diff_owners_sort(&oa);
        diff_owners_sort(&ob);
        assert_string_equal(diff_owners_find(&ob, "/usr/bin/nano"), "nano");
        assert_null(diff_owners_find(&ob, "/etc/motd"));
        assert_null(diff_owners_find(&ob, "/."));
        /* Merged /usr: dpkg lists /bin/sh, the file is at /usr/bin/sh. */
        DiffOwners om = {};
        const char dash_list[] = "/.\n/bin\n/bin/dash\n/usr/share/man/man1/dash.1.gz\n";
        diff_owners_add_list(&om, "dash", dash_list, sizeof(dash_list) - 1);
        diff_owners_add_alias(&om, "/bin", "/usr/bin");
        diff_owners_add_alias(&om, "/b", "/nothing");
        diff_owners_sort(&om);
        assert_string_equal(diff_owners_find(&om, "/usr/bin/dash"), "dash");
        assert_string_equal(diff_owners_find(&om, "/bin/dash"), "dash");
        assert_null(diff_owners_find(&om, "/nothing/in/dash"));
        assert_int_equal(om.n_owners, 4);
        diff_owners_done(&om);

        diff_trees(&a, &b, &oa, &ob, &o, &r);
        assert_int_equal(r.n_added, 1);
        assert_int_equal(r.n_removed, 1);
        assert_int_equal(r.n_changed, 4); /* motd mode, sshd_config, link, same's mtime */
        assert_int_equal(r.bytes_added, strlen("nano binary"));
        assert_int_equal(r.bytes_removed, 3);
        assert_int_equal(r.n_entries, b.n_files);
        /* Grouped by package in name order, files no package owns last. */
        assert_string_equal(r.changes[0].package, "nano");
        assert_null(r.changes[0].a);
        assert_string_equal(r.changes[1].package, "openssh-server");
        assert_int_equal(r.changes[1].what, DIFF_CONTENT | DIFF_SIZE);
        assert_null(r.changes[2].package);
        assert_string_equal(r.changes[2].a->path, "/etc/link");
        assert_int_equal(r.changes[2].what, DIFF_LINK);
        assert_string_equal(r.changes[3].a->path, "/etc/motd");
        assert_int_equal(r.changes[3].what, DIFF_MODE);
        assert_string_equal(r.changes[4].a->path, "/etc/same");
        assert_int_equal(r.changes[4].what, DIFF_MTIME);
        assert_string_equal(r.changes[5].a->path, "/usr/bin/gone");
        assert_null(r.changes[5].b);
        diff_fs_result_done(&r);

        /* --no-times: the file whose mtime alone differs is the same. */
        o.no_times = true;
        diff_trees(&a, &b, NULL, NULL, &o, &r);
        assert_int_equal(r.n_changed, 3);
        diff_fs_result_done(&r);

        /* A tree against itself: nothing. */
        diff_trees(&a, &a, NULL, NULL, &o, &r);
        assert_int_equal(r.n_changes, 0);
        diff_fs_result_done(&r);

        diff_owners_done(&oa);
        diff_owners_done(&ob);
        diff_tree_done(&a);
        diff_tree_done(&b);
}

static void test_type_change(void **state) {
        (void)state;
        DiffTree a = {}, b = {};
        DiffOptions o = {};
        DiffFsResult r = {};

        add(&a, "/x", S_IFREG | 0644, "x");
        add(&b, "/x", S_IFLNK | 0777, "y");
        diff_trees(&a, &b, NULL, NULL, &o, &r);
        assert_int_equal(r.n_changed, 1);
        assert_int_equal(r.changes[0].what, DIFF_TYPE); /* nothing else is comparable */
        diff_fs_result_done(&r);
        diff_tree_done(&a);
        diff_tree_done(&b);
}

static const char status_a[] = "Package: base-files\n"
                               "Status: install ok installed\n"
                               "Version: 12.4+deb12u5\n"
                               "Architecture: amd64\n"
                               "Description: base\n"
                               " continued line\n"
                               "\n"
                               "Package: openssh-server\n"
                               "Status: install ok installed\n"
                               "Architecture: amd64\n"
                               "Version: 1:9.2p1-2\n"
                               "\n"
                               "Package: removed-one\n"
                               "Status: deinstall ok config-files\n"
                               "Version: 1.0\n";
static const char status_b[] = "Package: openssh-server\n"
                               "Status: install ok installed\n"
                               "Architecture: amd64\n"
                               "Version: 1:9.2p1-2+deb12u3\n"
                               "\n"
                               "Package: nano\n"
                               "Status: install ok installed\n"
                               "Architecture: amd64\n"
                               "Version: 7.2-1\n"
                               "\n"
                               "Package: base-files\n"
                               "Status: install ok installed\n"
                               "Version: 12.4+deb12u5\n"
                               "Architecture: amd64\n";

static void test_packages(void **state) {
        (void)state;
        DiffPackages a = {}, b = {};
        char *err = NULL;

        assert_int_equal(
                diff_packages_parse(distro_find("debian"), status_a, strlen(status_a), &a, &err),
                0);
        assert_int_equal(
                diff_packages_parse(distro_find("debian"), status_b, strlen(status_b), &b, &err),
                0);
        assert_int_equal(a.n_packages, 2); /* config-files only: not installed */
        assert_string_equal(a.packages[0].name, "base-files");
        assert_string_equal(a.packages[1].version, "1:9.2p1-2");
        assert_int_equal(b.n_packages, 3);
        assert_string_equal(b.packages[1].name, "nano"); /* sorted */

        DiffResult r = {};
        diff_packages(&a, &b, &r);
        assert_int_equal(r.n_packages_added, 1);
        assert_int_equal(r.n_packages_removed, 0);
        assert_int_equal(r.n_packages_changed, 1);
        assert_int_equal(r.n_packages, 2);
        assert_string_equal(r.packages[0].b->name, "nano");
        assert_null(r.packages[0].a);
        assert_string_equal(r.packages[1].a->version, "1:9.2p1-2");
        assert_string_equal(r.packages[1].b->version, "1:9.2p1-2+deb12u3");
        diff_result_done(&r);

        const char bad[] = "Version: 1\nStatus: install ok installed\n";
        DiffPackages c = {};
        assert_int_equal(diff_packages_parse(distro_find("debian"), bad, strlen(bad), &c, &err),
                         -EBADMSG);
        assert_non_null(strstr(err, "without Package"));
        free(err);
        diff_packages_done(&a);
        diff_packages_done(&b);
}

static void test_keep_content(void **state) {
        (void)state;
        assert_true(diff_keep_content("/var/lib/dpkg/status"));
        assert_true(diff_keep_content("/var/lib/dpkg/info/nano.list"));
        assert_true(diff_keep_content("/var/lib/dpkg/info/libc6:amd64.list"));
        assert_false(diff_keep_content("/var/lib/dpkg/info/nano.md5sums"));
        assert_false(diff_keep_content("/var/lib/dpkg/info/sub/x.list"));
        assert_false(diff_keep_content("/var/lib/dpkg/info/.list"));
        assert_false(diff_keep_content("/etc/status"));
}

static void test_report(void **state) {
        (void)state;
        DiffTree a, b;
        DiffOwners ob = {};
        const char nano_list[] = "/usr/bin/nano\n";
        DiffSide sa = {.path = (char *)"a.raw", .format = "raw"};
        DiffSide sb = {.path = (char *)"b.qcow2", .format = "qcow2"};
        DiffOptions o = {};
        char *err = NULL;

        sample_trees(&a, &b);
        diff_owners_add_list(&ob, "nano", nano_list, sizeof(nano_list) - 1);
        diff_owners_sort(&ob);
        assert_int_equal(diff_packages_parse(distro_find("debian"), status_a, strlen(status_a),
                                             &sa.packages, &err),
                         0);
        assert_int_equal(diff_packages_parse(distro_find("debian"), status_b, strlen(status_b),
                                             &sb.packages, &err),
                         0);
        sa.has_packages = sb.has_packages = true;
        DiffPartition pa = {.number = 1,
                            .type = (char *)"4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709",
                            .size = 1 << 20,
                            .fs_type = (char *)"ext4",
                            .tree = &a};
        DiffPartition pb = pa;
        pb.tree = &b;
        pb.fs_uuid = (char *)"1234";
        sa.disk = (DiffDisk){
                .table = (char *)"gpt", .size = 2 << 20, .partitions = &pa, .n_partitions = 1};
        sb.disk = (DiffDisk){
                .table = (char *)"gpt", .size = 2 << 20, .partitions = &pb, .n_partitions = 1};
        sb.owners = ob;

        DiffResult r;
        diff_sides(&sa, &sb, &o, &r);
        assert_false(r.identical);
        _cleanup_free_ char *text = diff_format_text(&r, false);
        assert_non_null(strstr(text, "packages: 1 added, 0 removed, 1 changed\n"
                                     "  + nano 7.2-1\n"
                                     "  ~ openssh-server 1:9.2p1-2 -> 1:9.2p1-2+deb12u3\n"));
        assert_non_null(strstr(text, "partitions: 1 difference\n"
                                     "  partition 1: fs uuid (none) -> 1234\n"));
        assert_non_null(strstr(text, "files (root, ext4): 1 added, 1 removed, 4 changed\n"
                                     "  nano:\n"
                                     "    + /usr/bin/nano (11 B)\n"
                                     "  (no package):\n"
                                     "    ~ /etc/link: link motd -> issue\n"
                                     "    ~ /etc/motd: mode 0644 -> 0600\n"));
        assert_non_null(strstr(text, "    ~ /etc/ssh/sshd_config: content (sha256 "));
        assert_non_null(strstr(text, ".. -> "));
        assert_non_null(strstr(text, "), size 8 -> 10\n"));
        assert_non_null(strstr(text, "    ~ /etc/same: mtime 2023-11-14T22:13:20Z -> "
                                     "2023-11-14T22:13:21Z\n"));
        assert_non_null(strstr(text, "    - /usr/bin/gone (3 B)\n"));
        assert_non_null(strstr(text, "summary: differ — 1 package added, 0 removed, 1 changed; "
                                     "1 partition difference; 1 file added (11 B), 1 removed "
                                     "(3 B), 4 changed ("));
        _cleanup_free_ char *quiet = diff_format_text(&r, true);
        assert_true(strneq(quiet, "summary: differ", 15));
        assert_ptr_equal(strchr(quiet, '\n'), quiet + strlen(quiet) - 1); /* one line */

        /* The JSON is one well-formed object (JSON is YAML: the YAML parser reads it). */
        _cleanup_free_ char *json = diff_format_json(&r);
        Diagnostics diag = {};
        Node *root = NULL;
        assert_int_equal(node_parse_yaml("diff.json", json, strlen(json), &diag, &root), 0);
        assert_string_equal(node_lookup(root, "identical")->scalar, "false");
        assert_string_equal(node_lookup(root, "summary.files-added")->scalar, "1");
        assert_string_equal(node_lookup(root, "summary.packages-changed")->scalar, "1");
        Node *fs = node_lookup(root, "filesystems");
        assert_int_equal(fs->n_items, 1);
        Node *changed = node_map_get(fs->items[0], "changed");
        assert_int_equal(changed->n_items, 4);
        assert_string_equal(
                node_map_get(node_map_get(changed->items[0], "changes")->items[0], "field")->scalar,
                "link");
        node_free(root);
        diag_done(&diag);
        diff_result_done(&r);

        /* The same side twice: identical. */
        diff_sides(&sa, &sa, &o, &r);
        assert_true(r.identical);
        _cleanup_free_ char *same = diff_format_text(&r, false);
        assert_non_null(strstr(same, "files (root, ext4): identical (6 entries)\n"));
        assert_non_null(strstr(same, "summary: identical\n"));
        diff_result_done(&r);

        diff_packages_done(&sa.packages);
        diff_packages_done(&sb.packages);
        diff_owners_done(&ob);
        diff_tree_done(&a);
        diff_tree_done(&b);
}

static void test_bytes(void **state) {
        (void)state;
        char buf[32];
        assert_string_equal(diff_format_bytes(12, buf), "12 B");
        assert_string_equal(diff_format_bytes(1024, buf), "1.0 KiB");
        assert_string_equal(diff_format_bytes(286925, buf), "280.2 KiB");
        assert_string_equal(diff_format_bytes(3ull << 30, buf), "3.0 GiB");
}

/* ---- the FAT reader on images made by mkfs.vfat and mcopy ---- */

typedef struct Mem {
        uint8_t *data;
        size_t size;
} Mem;

static int mem_read(void *userdata, void *buf, size_t size, uint64_t offset) {
        Mem *m = userdata;
        if (offset > m->size || size > m->size - offset)
                return -EIO;
        memcpy(buf, m->data + offset, size);
        return 0;
}

static int run(const char *cmd) {
        char *argv[] = {(char *)"sh", (char *)"-c", (char *)cmd, NULL};
        Buffer out = {};
        int r = spawn_run(argv, NULL, &out);
        if (r != 0)
                fprintf(stderr, "%s: %s\n", cmd, out.data ? out.data : "");
        buffer_done(&out);
        return r;
}

static char tmpdir[] = "/tmp/test-diff-XXXXXX";

/* Makes a FAT image of kib KiB with mkfs.vfat (FAT bits forced with fat) holding a few files,
 * long names and a nested directory; reads it into m. */
static void make_fat(int fat, unsigned kib, Mem *m) {
        _cleanup_free_ char *img = xasprintf("%s/fat%d.img", tmpdir, fat);
        _cleanup_free_ char *cmd = xasprintf(
                "set -e; cd %s; rm -f %s; mkfs.vfat -C -F %d -n TESTFAT %s %u >/dev/null; "
                "printf 'hello\\n' >short.txt; head -c 100000 /dev/zero | tr '\\0' x >big.bin; "
                "export MTOOLS_SKIP_CHECK=1; "
                "mmd -i %s ::/EFI ::/EFI/Long\\ Directory\\ Name; "
                "mcopy -i %s short.txt ::/EFI/SHORT.TXT; "
                "mcopy -i %s big.bin '::/EFI/Long Directory Name/a file with a long name.bin'; "
                "mcopy -i %s short.txt ::/lower.txt",
                tmpdir, img, fat, img, kib, img, img, img, img);
        assert_int_equal(run(cmd), 0);
        char *data;
        size_t size;
        assert_int_equal(read_full_file(img, 64u << 20, &data, &size), 0);
        m->data = (uint8_t *)data;
        m->size = size;
}

static void check_fat(const DiffTree *t) {
        uint8_t d[SHA256_DIGEST_SIZE];
        const DiffFile *f;

        assert_non_null(diff_tree_find(t, "/"));
        f = diff_tree_find(t, "/EFI");
        assert_non_null(f);
        assert_true(S_ISDIR(f->mode));
        assert_non_null(diff_tree_find(t, "/EFI/Long Directory Name"));
        f = diff_tree_find(t, "/EFI/SHORT.TXT");
        assert_non_null(f);
        assert_int_equal(f->size, 6);
        sha256("hello\n", 6, d);
        assert_memory_equal(f->sha256, d, sizeof(d));
        f = diff_tree_find(t, "/EFI/Long Directory Name/a file with a long name.bin");
        assert_non_null(f);
        assert_int_equal(f->size, 100000);
        char *x = xmalloc(100000);
        memset(x, 'x', 100000);
        sha256(x, 100000, d);
        free(x);
        assert_memory_equal(f->sha256, d, sizeof(d));
        assert_true(f->mtime > 1600000000); /* mcopy sets the file's time */
        assert_non_null(diff_tree_find(t, "/lower.txt"));
        assert_int_equal(t->n_files, 6);
}

static void test_fat(void **state) {
        (void)state;
        static const struct {
                int bits;
                unsigned kib;
        } kinds[] = {{12, 1024}, {16, 20480}, {32, 40960}};

        for (size_t i = 0; i < ELEMENTSOF(kinds); i++) {
                Mem m;
                DiffTree t;
                char *err = NULL;
                make_fat(kinds[i].bits, kinds[i].kib, &m);
                DiffReader r = {mem_read, &m, m.size};
                int k = diff_fat_read(&r, &t, &err);
                if (k < 0)
                        fprintf(stderr, "FAT%d: %s\n", kinds[i].bits, err);
                assert_int_equal(k, 0);
                assert_int_equal(t.fs_size, (uint64_t)kinds[i].kib * 1024);
                check_fat(&t);
                diff_tree_done(&t);

                /* The volume cut short: refused, not read past the end. */
                r.size = m.size / 2;
                assert_int_equal(diff_fat_read(&r, &t, &err), -EBADMSG);
                assert_non_null(strstr(err, "larger than its partition"));
                free(err);
                free(m.data);
        }
}

static void test_fat_corrupt(void **state) {
        (void)state;
        Mem m;
        DiffTree t;
        char *err = NULL;

        make_fat(16, 20480, &m);
        DiffReader r = {mem_read, &m, m.size};
        /* Make the first FAT's entry for every cluster point at cluster 2: the chains loop. */
        uint32_t reserved = le16(m.data + 14), sector = le16(m.data + 11);
        uint8_t *fat = m.data + (size_t)reserved * sector;
        for (unsigned c = 2; c < 40; c++)
                put_le16(fat + 2 * c, 2);
        assert_int_equal(diff_fat_read(&r, &t, &err), -EBADMSG);
        assert_non_null(strstr(err, "used twice"));
        free(err);
        err = NULL;

        /* Not FAT at all. */
        memset(m.data, 0x41, 512);
        assert_int_equal(diff_fat_read(&r, &t, &err), -EBADMSG);
        assert_non_null(strstr(err, "no boot sector signature"));
        free(err);
        free(m.data);
}

/* ---- the qcow2 reader, on images made by vmcompose's own writer and by qemu-img ---- */

#define QSIZE (UINT64_C(8) << 20)

/* A raw disk with data at a few places (the rest holes), in a memfd. */
static int make_raw(void) {
        int fd = memfd_create("raw", MFD_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, (off_t)QSIZE), 0);
        assert_int_equal(pwrite_all(fd, "first", 5, 0), 0);
        assert_int_equal(pwrite_all(fd, "middle", 6, 3 << 20), 0);
        assert_int_equal(pwrite_all(fd, "last", 4, QSIZE - 4), 0);
        return fd;
}

static void assert_same(int a, int b, uint64_t size) {
        static uint8_t x[1 << 16], y[1 << 16];
        for (uint64_t off = 0; off < size; off += sizeof(x)) {
                assert_int_equal(pread_all(a, x, sizeof(x), off), 0);
                assert_int_equal(pread_all(b, y, sizeof(y), off), 0);
                assert_memory_equal(x, y, sizeof(x));
        }
}

typedef int (*ToRaw)(int, uint64_t, int, uint64_t *, char **);

/* The sample disk written by vmcompose's own writer for format into a memfd; checks that
 * read gives back its bytes. Returns the image and its size. */
static int own_image_compressed(const char *format, OutputCompression c, int raw, ToRaw read,
                                uint64_t *ret_size) {
        const OutputFormat *f = output_format_find(format);
        OutputOptions o = {.timestamp = 1700000000, .compression = c};
        int img = memfd_create(format, MFD_CLOEXEC), out = memfd_create("out", MFD_CLOEXEC);
        struct stat st;
        uint64_t size = 0;
        char *err = NULL;

        assert_non_null(f);
        assert_int_equal(f->write_image(raw, QSIZE, img, &o), 0);
        assert_int_equal(fstat(img, &st), 0);
        assert_int_equal(read(img, (uint64_t)st.st_size, out, &size, &err), 0);
        assert_int_equal(size, QSIZE);
        assert_same(raw, out, QSIZE);
        close(out);
        *ret_size = (uint64_t)st.st_size;
        return img;
}

static int own_image(const char *format, int raw, ToRaw read, uint64_t *ret_size) {
        return own_image_compressed(format, OUTPUT_COMPRESSION_NONE, raw, read, ret_size);
}

/* Compressed clusters, zlib and zstd: read back byte for byte; a damaged one is refused. */
static void test_qcow2_compressed(void **state) {
        (void)state;
        for (OutputCompression c = OUTPUT_COMPRESSION_ZLIB; c <= OUTPUT_COMPRESSION_ZSTD; c++) {
                int raw = make_raw(), out = memfd_create("out", MFD_CLOEXEC);
                uint64_t file_size, size;
                char *err = NULL;
                int img = own_image_compressed("qcow2", c, raw, diff_qcow2_to_raw, &file_size);

                /* The first data cluster's compressed bytes, changed. */
                uint8_t h[104], e[8];
                assert_int_equal(pread_all(img, h, sizeof(h), 0), 0);
                uint64_t l1 = be64(h + 40);
                assert_int_equal(pread_all(img, e, 8, l1), 0);
                uint64_t l2 = be64(e) & UINT64_C(0x00fffffffffffe00);
                assert_int_equal(pread_all(img, e, 8, l2), 0);
                uint64_t entry = be64(e);
                assert_true(entry & (UINT64_C(1) << 62));
                uint64_t host = entry & ((UINT64_C(1) << 54) - 1);
                uint8_t junk[16];
                memset(junk, 0xa5, sizeof(junk));
                assert_int_equal(pwrite_all(img, junk, sizeof(junk), host), 0);
                assert_int_equal(diff_qcow2_to_raw(img, file_size, out, &size, &err), -EBADMSG);
                assert_non_null(strstr(err, "is corrupt"));
                free(err);
                close(raw);
                close(img);
                close(out);
        }
}

static void test_qcow2(void **state) {
        (void)state;
        int raw = make_raw(), out = memfd_create("out", MFD_CLOEXEC);
        uint64_t file_size, size;
        char *err = NULL;
        int img = own_image("qcow2", raw, diff_qcow2_to_raw, &file_size);
        struct stat st = {.st_size = (off_t)file_size};

        /* Cut: the last data cluster is outside the file. */
        assert_int_equal(diff_qcow2_to_raw(img, (uint64_t)st.st_size - 70000, out, &size, &err),
                         -EBADMSG);
        assert_non_null(strstr(err, "outside the file (truncated?)"));
        free(err);
        err = NULL;

        /* Every L2 entry pointing at one cluster: refused, not copied 128 times. */
        uint8_t h[104];
        assert_int_equal(pread_all(img, h, sizeof(h), 0), 0);
        uint64_t l1 = be64(h + 40), l2 = 0, entry = 0;
        assert_int_equal(pread_all(img, &l2, 8, l1), 0);
        l2 = be64((uint8_t *)&l2) & UINT64_C(0x00fffffffffffe00);
        assert_int_equal(pread_all(img, &entry, 8, l2), 0);
        for (unsigned i = 0; i < 128; i++)
                assert_int_equal(pwrite_all(img, &entry, 8, l2 + 8 * i), 0);
        close(out);
        out = memfd_create("out", MFD_CLOEXEC);
        assert_int_equal(diff_qcow2_to_raw(img, (uint64_t)st.st_size, out, &size, &err), -EBADMSG);
        assert_non_null(strstr(err, "clusters used twice"));
        free(err);
        err = NULL;

        /* A backing file: for qemu-img. */
        put_be64(h + 8, 4096);
        assert_int_equal(pwrite_all(img, h, sizeof(h), 0), 0);
        assert_int_equal(diff_qcow2_to_raw(img, (uint64_t)st.st_size, out, &size, &err),
                         -EOPNOTSUPP);
        close(raw);
        close(img);
        close(out);
}

static void test_vhdx(void **state) {
        (void)state;
        int raw = make_raw(), out = memfd_create("out", MFD_CLOEXEC);
        uint64_t file_size, size;
        char *err = NULL;
        int img = own_image("vhdx", raw, diff_vhdx_to_raw, &file_size);
        struct stat st = {.st_size = (off_t)file_size};

        /* Cut: the last block is outside the file. */
        assert_int_equal(diff_vhdx_to_raw(img, (uint64_t)st.st_size - 4096, out, &size, &err),
                         -EBADMSG);
        assert_non_null(strstr(err, "outside the file (truncated?)"));
        free(err);
        err = NULL;

        /* Both headers damaged: refused. */
        uint8_t b = 0x42;
        assert_int_equal(pwrite_all(img, &b, 1, 64 * 1024 + 200), 0);
        assert_int_equal(pwrite_all(img, &b, 1, 128 * 1024 + 200), 0);
        assert_int_equal(diff_vhdx_to_raw(img, (uint64_t)st.st_size, out, &size, &err), -EBADMSG);
        assert_non_null(strstr(err, "no valid header"));
        free(err);
        close(raw);
        close(img);
        close(out);
}

/* Converts the sample raw disk with qemu-img into format with options, reads it back with
 * read and checks the bytes; expect: 0, or the error the reader must give. */
static void qemu_variant(const char *format, const char *options, ToRaw read, int expect) {
        int raw = make_raw(), out = memfd_create("out", MFD_CLOEXEC);
        _cleanup_free_ char *path = xasprintf("%s/image.%s", tmpdir, format);
        _cleanup_free_ char *cmd = xasprintf("qemu-img convert -f raw -O %s %s /proc/%d/fd/%d %s",
                                             format, options, (int)getpid(), raw, path);
        struct stat st;
        uint64_t size = 0;
        char *err = NULL;

        assert_int_equal(run(cmd), 0);
        _cleanup_close_ int img = open(path, O_RDONLY | O_CLOEXEC);
        assert_int_equal(fstat(img, &st), 0);
        int r = read(img, (uint64_t)st.st_size, out, &size, &err);
        if (r < 0 && expect == 0)
                fprintf(stderr, "%s %s: %s\n", format, options, err);
        assert_int_equal(r, expect);
        if (expect == 0) {
                assert_int_equal(size, QSIZE);
                assert_same(raw, out, QSIZE);
        }
        free(err);
        close(out);
        close(raw);
        unlink(path);
}

static void test_qemu_img(void **state) {
        (void)state;
        if (run("command -v qemu-img") != 0)
                skip();
        qemu_variant("qcow2", "", diff_qcow2_to_raw, 0);
        qemu_variant("qcow2", "-o compat=0.10", diff_qcow2_to_raw, 0);
        qemu_variant("qcow2", "-o cluster_size=4096", diff_qcow2_to_raw, 0);
        qemu_variant("qcow2", "-o cluster_size=2M", diff_qcow2_to_raw, 0);
        qemu_variant("qcow2", "-c", diff_qcow2_to_raw, 0); /* compressed, zlib */
        qemu_variant("qcow2", "-c -o compression_type=zstd", diff_qcow2_to_raw, 0);
        qemu_variant("qcow2", "-c -o cluster_size=4096", diff_qcow2_to_raw, 0);
        qemu_variant("vhdx", "", diff_vhdx_to_raw, 0);
        qemu_variant("vhdx", "-o subformat=fixed", diff_vhdx_to_raw, 0);
        qemu_variant("vhdx", "-o block_size=1M", diff_vhdx_to_raw, 0);
        qemu_variant("vhdx", "-o block_size=256M", diff_vhdx_to_raw, 0);
}

int main(void) {
        const struct CMUnitTest pure[] = {
                cmocka_unit_test(test_trees),    cmocka_unit_test(test_type_change),
                cmocka_unit_test(test_packages), cmocka_unit_test(test_keep_content),
                cmocka_unit_test(test_report),   cmocka_unit_test(test_bytes),
                cmocka_unit_test(test_qcow2),    cmocka_unit_test(test_qcow2_compressed),
                cmocka_unit_test(test_vhdx),
        };
        const struct CMUnitTest fat[] = {
                cmocka_unit_test(test_fat),
                cmocka_unit_test(test_fat_corrupt),
                cmocka_unit_test(test_qemu_img),
        };
        int failed = cmocka_run_group_tests_name("diff", pure, NULL, NULL);

        if (run("command -v mkfs.vfat && command -v mcopy && command -v mmd") != 0) {
                fprintf(stderr, "SKIP: the FAT reader tests need dosfstools and mtools\n");
                return failed ? 1 : 77;
        }
        if (!mkdtemp(tmpdir))
                return 1;
        failed += cmocka_run_group_tests_name("diff-fat", fat, NULL, NULL);
        _cleanup_free_ char *rm = xasprintf("rm -rf %s", tmpdir);
        (void)run(rm);
        return failed ? 1 : 0;
}
