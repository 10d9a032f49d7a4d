/* SPDX-License-Identifier: MIT */
/* vmcompose's initramfs: the init's command line, partition and filesystem probing and fsck
 * decision (composer/initrd/probe.c), and the archive the build writes (initramfs.c), read
 * back with libarchive. VMCOMPOSE_TEST_ROOT=DIR also builds one from a real root's kernel. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <archive.h>
#include <archive_entry.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "../../composer/initrd/probe.h"
#include "config.h"
#include "vmcompose/arch.h"
#include "vmcompose/bootloader.h"
#include "vmcompose/endian.h"
#include "vmcompose/macro.h"
#include "vmcompose/profile.h"
#include "vmcompose/util.h"

static void test_cmdline(void **state) {
        (void)state;
        char line[] = "initrd=\\k\\initrd root=PARTUUID=ab-01 rootfstype=ext4 "
                      "rootflags=\"data=journal,commit=5\" ro console=ttyS0 rw "
                      "\"init=/lib/my init\" rootdelay=300 fsck.mode=force virtio_blk.x=1 "
                      "virtio-blk.y virtio_net.z=2 vmcompose.debug \"sd_mod.w=a b\"\n";
        char *w[64];
        size_t n = initrd_split_cmdline(line, w, 64);
        assert_int_equal(n, 15);
        assert_string_equal(w[3], "rootflags=data=journal,commit=5");
        assert_string_equal(w[7], "init=/lib/my init");
        InitParams p;
        initrd_parse_params(w, n, &p);
        assert_string_equal(p.root, "PARTUUID=ab-01");
        assert_string_equal(p.fstype, "ext4");
        assert_string_equal(p.flags, "data=journal,commit=5");
        assert_string_equal(p.init, "/lib/my init");
        assert_string_equal(p.fsck_mode, "force");
        assert_int_equal(p.delay, 300);
        assert_true(p.rw); /* the last of ro/rw */
        assert_false(p.wait);
        assert_true(p.debug);

        char buf[64];
        assert_int_equal(initrd_module_params(w, n, "virtio_blk", buf, sizeof(buf)), 0);
        assert_string_equal(buf, "x=1 y");
        assert_int_equal(initrd_module_params(w, n, "virtio-net", buf, sizeof(buf)), 0);
        assert_string_equal(buf, "z=2");
        assert_int_equal(initrd_module_params(w, n, "sd_mod", buf, sizeof(buf)), 0);
        assert_string_equal(buf, "w=\"a b\""); /* quoted again for the kernel */
        assert_int_equal(initrd_module_params(w, n, "scsi_mod", buf, sizeof(buf)), 0);
        assert_string_equal(buf, "");
        assert_int_equal(initrd_module_params(w, n, "virtio_blk", buf, 4), -1);

        /* Defaults: read-only, /sbin/init, fsck.mode=auto; at most max words. */
        char l2[] = "  root=/dev/vda1   a b c";
        n = initrd_split_cmdline(l2, w, 2);
        assert_int_equal(n, 2);
        initrd_parse_params(w, n, &p);
        assert_false(p.rw);
        assert_string_equal(p.init, "/sbin/init");
        assert_string_equal(p.fsck_mode, "auto");
        assert_null(p.fstype);
}

typedef struct Disk {
        uint8_t *data;
        size_t size;
} Disk;

static int disk_read(uint64_t offset, void *buf, size_t len, void *userdata) {
        Disk *d = userdata;
        if (offset + len > d->size)
                return -1;
        memcpy(buf, d->data + offset, len);
        return 0;
}

static void test_partuuid(void **state) {
        (void)state;
        Disk d = {.size = 64 * 1024};
        d.data = calloc(1, d.size);
        char uuid[37], name[64];

        /* MBR: disk signature and partition number. */
        put_le32(d.data + 440, 0x1234abcd);
        d.data[446 + 4] = 0x83;
        d.data[446 + 16 + 4] = 0x0c;
        d.data[510] = 0x55;
        d.data[511] = 0xaa;
        assert_int_equal(initrd_partuuid(d.data, 512, 2, disk_read, &d, uuid, name, 64), 0);
        assert_string_equal(uuid, "1234abcd-02");
        /* A logical partition: the same form (the kernel's), whatever the table says. */
        assert_int_equal(initrd_partuuid(d.data, 512, 5, disk_read, &d, uuid, name, 64), 0);
        assert_string_equal(uuid, "1234abcd-05");
        assert_int_equal(initrd_partuuid(d.data, 512, 0, disk_read, &d, uuid, name, 64), -1);

        /* GPT: the protective MBR, the header at LBA 1, entries at LBA 2, 128 bytes each. */
        memset(d.data + 446, 0, 64);
        d.data[446 + 4] = 0xee;
        memcpy(d.data + 512, "EFI PART", 8);
        put_le64(d.data + 512 + 72, 2);
        put_le32(d.data + 512 + 80, 128);
        put_le32(d.data + 512 + 84, 128);
        uint8_t *e = d.data + 1024 + 128; /* entry 2 */
        static const uint8_t type[16] = {1};
        static const uint8_t guid[16] = {0x91, 0xa5, 0x1b, 0x91, 0x21, 0x73, 0x8e, 0x84,
                                         0x9f, 0x5e, 0xbf, 0x87, 0x05, 0x97, 0x2e, 0xa3};
        memcpy(e, type, 16);
        memcpy(e + 16, guid, 16);
        const char *label = "root-x86-64";
        for (size_t i = 0; label[i]; i++)
                put_le16(e + 56 + 2 * i, (uint16_t)label[i]);
        assert_int_equal(initrd_partuuid(d.data, 512, 2, disk_read, &d, uuid, name, 64), 0);
        assert_string_equal(uuid, "911ba591-7321-848e-9f5e-bf8705972ea3");
        assert_string_equal(name, "root-x86-64");
        /* An unused entry, one past the table, a broken header, no signature. */
        assert_int_equal(initrd_partuuid(d.data, 512, 1, disk_read, &d, uuid, name, 64), -1);
        assert_int_equal(initrd_partuuid(d.data, 512, 129, disk_read, &d, uuid, name, 64), -1);
        d.data[512] = 'X';
        assert_int_equal(initrd_partuuid(d.data, 512, 2, disk_read, &d, uuid, name, 64), -1);
        d.data[510] = 0;
        assert_int_equal(initrd_partuuid(d.data, 512, 1, disk_read, &d, uuid, name, 64), -1);
        free(d.data);
}

/* A real ext4 from mke2fs, and the superblock fields the fsck decision reads. */
static void test_probe_ext4(void **state) {
        (void)state;
        char path[] = "/tmp/vmcompose-test-initrd-XXXXXX";
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, 8 << 20), 0);
        close(fd);
        _cleanup_free_ char *cmd =
                xasprintf("mke2fs -q -F -t ext4 -U 0c3a51b6-33b4-4e6f-a4c0-7e5d3b4b2a19 -L "
                          "rootfs %s 2>&1",
                          path);
        assert_int_equal(system(cmd), 0);
        _cleanup_free_ char *data = NULL;
        size_t size = 0;
        assert_int_equal(read_full_file(path, 16 << 20, &data, &size), 0);
        unlink(path);

        FsInfo fs;
        initrd_probe_fs((uint8_t *)data, FS_PROBE_SIZE, &fs);
        assert_string_equal(fs.type, "ext4");
        assert_string_equal(fs.uuid, "0c3a51b6-33b4-4e6f-a4c0-7e5d3b4b2a19");
        assert_string_equal(fs.label, "rootfs");
        char why[96] = "";
        /* mke2fs leaves it clean, with no mount count or interval (Debian's defaults). */
        assert_false(initrd_wants_check(&fs, "auto", 2000000000, why, sizeof(why)));
        assert_true(initrd_wants_check(&fs, "force", 0, why, sizeof(why)));
        assert_string_equal(why, "fsck.mode=force");

        FsInfo f = fs;
        f.state = 0;
        assert_true(initrd_wants_check(&f, "auto", 0, why, sizeof(why)));
        assert_string_equal(why, "not cleanly unmounted");
        assert_false(initrd_wants_check(&f, "skip", 0, why, sizeof(why)));
        f = fs;
        f.state = 3;
        assert_true(initrd_wants_check(&f, "auto", 0, why, sizeof(why)));
        assert_string_equal(why, "errors recorded");
        f = fs;
        f.max_mount_count = 20;
        f.mount_count = 20;
        assert_true(initrd_wants_check(&f, "auto", 0, why, sizeof(why)));
        f.mount_count = 19;
        assert_false(initrd_wants_check(&f, "auto", 0, why, sizeof(why)));
        f = fs;
        f.last_check = 1000;
        f.check_interval = 100;
        assert_false(initrd_wants_check(&f, "auto", 1099, why, sizeof(why)));
        assert_true(initrd_wants_check(&f, "auto", 1100, why, sizeof(why)));
        assert_string_equal(why, "the check interval has passed");
        assert_true(initrd_wants_check(&f, "auto", 999, why, sizeof(why)));
        assert_string_equal(why, "last checked in the future");

        /* Not a filesystem; XFS and Btrfs signatures. */
        uint8_t *b = calloc(1, FS_PROBE_SIZE);
        initrd_probe_fs(b, FS_PROBE_SIZE, &fs);
        assert_string_equal(fs.type, "");
        assert_false(initrd_wants_check(&fs, "force", 0, why, sizeof(why)));
        memcpy(b, "XFSB", 4);
        b[32] = 0xab;
        memcpy(b + 108, "xroot", 5);
        initrd_probe_fs(b, FS_PROBE_SIZE, &fs);
        assert_string_equal(fs.type, "xfs");
        assert_string_equal(fs.uuid, "ab000000-0000-0000-0000-000000000000");
        assert_string_equal(fs.label, "xroot");
        memset(b, 0, 512);
        memcpy(b + 65536 + 64, "_BHRfS_M", 8);
        memcpy(b + 65536 + 0x12b, "broot", 5);
        initrd_probe_fs(b, FS_PROBE_SIZE, &fs);
        assert_string_equal(fs.type, "btrfs");
        assert_string_equal(fs.label, "broot");
        free(b);
}

typedef struct Member {
        char path[256];
        mode_t mode;
        dev_t rdev;
        int64_t mtime;
        char *data;
        size_t size;
} Member;

/* Reads a cpio archive with libarchive: an independent reader of what we wrote. */
static size_t read_archive(const char *data, size_t size, Member *m, size_t max) {
        struct archive *a = archive_read_new();
        struct archive_entry *e;
        size_t n = 0;
        archive_read_support_format_cpio(a);
        assert_int_equal(archive_read_open_memory(a, data, size), ARCHIVE_OK);
        while (n < max && archive_read_next_header(a, &e) == ARCHIVE_OK) {
                snprintf(m[n].path, sizeof(m[n].path), "%s", archive_entry_pathname(e));
                m[n].mode = archive_entry_mode(e);
                m[n].rdev = archive_entry_rdev(e);
                m[n].mtime = archive_entry_mtime(e);
                assert_int_equal(archive_entry_uid(e), 0);
                m[n].size = (size_t)archive_entry_size(e);
                m[n].data = calloc(1, m[n].size + 1);
                assert_int_equal(archive_read_data(a, m[n].data, m[n].size), (ssize_t)m[n].size);
                n++;
        }
        archive_read_free(a);
        return n;
}

static void members_free(Member *m, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(m[i].data);
}

static void test_cpio(void **state) {
        (void)state;
        InitramfsFile f[] = {
                {"dev", S_IFDIR | 0755, 0, "", 0},
                {"dev/console", S_IFCHR | 0600, makedev(5, 1), "", 0},
                {"init", S_IFREG | 0755, 0, "#!x", 3},
                {"odd", S_IFREG | 0644, 0, "12345", 5},
        };
        size_t size;
        _cleanup_free_ char *a = initramfs_cpio(f, ELEMENTSOF(f), 1700000000, &size);
        assert_int_equal(size % 512, 0);
        assert_memory_equal(a, "070701", 6);
        Member m[8];
        size_t n = read_archive(a, size, m, 8);
        assert_int_equal(n, 4);
        assert_string_equal(m[1].path, "dev/console");
        assert_true(S_ISCHR(m[1].mode));
        assert_int_equal(major(m[1].rdev), 5);
        assert_int_equal(minor(m[1].rdev), 1);
        assert_int_equal(m[2].mode, S_IFREG | 0755);
        assert_string_equal(m[2].data, "#!x");
        assert_string_equal(m[3].data, "12345");
        assert_int_equal(m[3].mtime, 1700000000);
        members_free(m, n);
        /* The same files give the same bytes. */
        size_t size2;
        _cleanup_free_ char *b = initramfs_cpio(f, ELEMENTSOF(f), 1700000000, &size2);
        assert_int_equal(size, size2);
        assert_memory_equal(a, b, size);
}

static void write_at(const char *root, const char *rel, const char *data, size_t size) {
        _cleanup_free_ char *p = path_join(root, rel);
        assert_int_equal(mkdir_parents(p), 0);
        assert_int_equal(write_file_atomic(p, data, size, 0644), 0);
}

/* A kernel's modules in a fake root: a needs b, b needs c; ext4 built in. */
static void test_write(void **state) {
        (void)state;
        char root[] = "/tmp/vmcompose-test-initrd-root-XXXXXX";
        assert_non_null(mkdtemp(root));
        /* a needs b-b, which needs c (shipped xz-compressed); a asks for pre1 before it and,
         * through an alias, post1_generic after it; "missing" is not in this kernel. */
        const char *dep = "kernel/x/a.ko: kernel/y/b-b.ko kernel/z/c.ko.xz\n"
                          "kernel/y/b-b.ko: kernel/z/c.ko.xz\n"
                          "kernel/z/c.ko.xz:\n"
                          "kernel/z/other.ko:\n"
                          "kernel/s/pre1.ko:\n"
                          "kernel/s/post1_generic.ko:\n";
        const char *softdep = "# Soft dependencies extracted from modules themselves.\n"
                              "softdep a pre: pre1 missing post: post1\n"
                              "softdep other pre: c\n";
        const char *alias = "alias post1 post1_generic\nalias pci:v*d* other\n";
        write_at(root, "lib/modules/6.1.0-test/modules.dep", dep, strlen(dep));
        write_at(root, "lib/modules/6.1.0-test/modules.softdep", softdep, strlen(softdep));
        write_at(root, "lib/modules/6.1.0-test/modules.alias", alias, strlen(alias));
        write_at(root, "lib/modules/6.1.0-test/modules.builtin", "kernel/fs/ext4/ext4.ko\n", 23);
        write_at(root, "lib/modules/6.1.0-test/kernel/x/a.ko", "AAAA", 4);
        write_at(root, "lib/modules/6.1.0-test/kernel/y/b-b.ko", "BB", 2);
        write_at(root, "lib/modules/6.1.0-test/kernel/s/pre1.ko", "P", 1);
        write_at(root, "lib/modules/6.1.0-test/kernel/s/post1_generic.ko", "Q", 1);
        _cleanup_free_ char *xz =
                xasprintf("mkdir -p %s/lib/modules/6.1.0-test/kernel/z && printf CCCC | xz -c "
                          ">%s/lib/modules/6.1.0-test/kernel/z/c.ko.xz",
                          root, root);
        assert_int_equal(system(xz), 0);
        Elf64_Ehdr elf = {.e_ident = {ELFMAG0, ELFMAG1, ELFMAG2, ELFMAG3, ELFCLASS64},
                          .e_machine = EM_X86_64};
        write_at(root, "init", (const char *)&elf, sizeof(elf));

        _cleanup_free_ char *init = path_join(root, "init");
        _cleanup_free_ char *out = path_join(root, "initrd.img");
        char *drivers[] = {(char *)"a", (char *)"ext4", NULL};
        /* A root whose /boot is a link to the host's "/": the archive still lands in the
         * root (ROOT/initrd.img), never on the host. */
        _cleanup_free_ char *boot = path_join(root, "boot");
        assert_int_equal(symlink("/", boot), 0);
        _cleanup_free_ char *host_out = xasprintf("/vmc-initrd-test-%d.img", (int)getpid());
        InitramfsRequest req = {
                .root_dir = root,
                .version = "6.1.0-test",
                .architecture = "amd64",
                .drivers = drivers,
                .init_path = init,
                .mtime = 1700000000,
                .out_path = host_out + 1,
        };
        assert_int_equal(initramfs_write(&req), 0);
        assert_int_equal(access(host_out, F_OK), -1);
        _cleanup_free_ char *in_root = xasprintf("%s%s", root, host_out);
        assert_int_equal(access(in_root, F_OK), 0);
        req.out_path = "boot/initrd.img";
        assert_int_equal(initramfs_write(&req), 0);
        _cleanup_free_ char *data = NULL;
        size_t size = 0;
        assert_int_equal(read_full_file(out, 1 << 20, &data, &size), 0);
        Member m[32];
        size_t n = read_archive(data, size, m, 32);
        const char *want[] = {"dev",
                              "dev/console",
                              "init",
                              "lib",
                              "lib/modules",
                              "lib/modules/6.1.0-test",
                              "lib/modules/6.1.0-test/kernel",
                              "lib/modules/6.1.0-test/kernel/s",
                              "lib/modules/6.1.0-test/kernel/s/post1_generic.ko",
                              "lib/modules/6.1.0-test/kernel/s/pre1.ko",
                              "lib/modules/6.1.0-test/kernel/x",
                              "lib/modules/6.1.0-test/kernel/x/a.ko",
                              "lib/modules/6.1.0-test/kernel/y",
                              "lib/modules/6.1.0-test/kernel/y/b-b.ko",
                              "lib/modules/6.1.0-test/kernel/z",
                              "lib/modules/6.1.0-test/kernel/z/c.ko",
                              "proc",
                              "sys",
                              "sysroot",
                              "vmcompose",
                              "vmcompose/modules"};
        assert_int_equal(n, ELEMENTSOF(want));
        for (size_t i = 0; i < n; i++)
                assert_string_equal(m[i].path, want[i]);
        assert_string_equal(m[11].data, "AAAA");
        assert_string_equal(m[15].data, "CCCC"); /* decompressed */
        assert_int_equal(m[2].mode, S_IFREG | 0755);
        /* Soft and hard dependencies first, post: after; "other" not wanted; ext4 built in. */
        assert_string_equal(m[20].data, "pre1 /lib/modules/6.1.0-test/kernel/s/pre1.ko\n"
                                        "c /lib/modules/6.1.0-test/kernel/z/c.ko\n"
                                        "b_b /lib/modules/6.1.0-test/kernel/y/b-b.ko\n"
                                        "a /lib/modules/6.1.0-test/kernel/x/a.ko\n"
                                        "post1_generic "
                                        "/lib/modules/6.1.0-test/kernel/s/post1_generic.ko\n");
        members_free(m, n);

        /* A driver the kernel lacks; an init for another architecture; no init. */
        drivers[0] = (char *)"virtio_nothing";
        assert_int_equal(initramfs_write(&req), -ENXIO);
        drivers[0] = (char *)"b_b";
        elf.e_machine = EM_AARCH64;
        write_at(root, "init", (const char *)&elf, sizeof(elf));
        assert_int_equal(initramfs_write(&req), -ENOEXEC);
        req.init_path = "/nonexistent/vmcompose-init";
        assert_int_equal(initramfs_write(&req), -ENOENT);

        _cleanup_free_ char *rm = xasprintf("rm -rf %s", root);
        assert_int_equal(system(rm), 0);
}

/* Every vmcompose-init.ARCH this build makes is a static program for ARCH: its ELF header's
 * class and e_machine (read as bytes, not with file(1)) are the architecture table's. */
static void test_init_per_arch(void **state) {
        (void)state;
        _cleanup_free_ char *arches = xstrdup(VMCOMPOSE_INIT_ARCHES);
        size_t n = 0;
        for (char *save = NULL, *a = strtok_r(arches, " ", &save); a;
             a = strtok_r(NULL, " ", &save), n++) {
                const Arch *arch = arch_find(a);
                assert_non_null(arch);
                _cleanup_free_ char *path =
                        xasprintf("%s/vmcompose-init.%s", VMCOMPOSE_BUILD_DIR, a);
                _cleanup_free_ char *data = NULL;
                size_t size = 0;
                assert_int_equal(read_full_file(path, 64 << 20, &data, &size), 0);
                assert_true(size > 64);
                assert_memory_equal(data, ELFMAG, SELFMAG);
                assert_int_equal(data[EI_CLASS], ELFCLASS64);
                assert_int_equal(data[EI_DATA], ELFDATA2LSB);
                uint16_t machine = (uint16_t)((uint8_t)data[18] | (uint8_t)data[19] << 8);
                assert_int_equal(machine, arch->elf_machine);
                /* Static: no program interpreter (PT_INTERP) to find in the initramfs. */
                assert_null(memmem(data, size, "/lib/ld-linux", 13));
        }
        /* At least the host's. */
        assert_true(n >= 1);
        assert_non_null(strstr(VMCOMPOSE_INIT_ARCHES, arch_host()->name));
}

/* The real init program and a real kernel's modules: the qemu target's drivers. */
static void test_real_root(void **state) {
        (void)state;
        const char *root = getenv("VMCOMPOSE_TEST_ROOT");
        if (!root)
                skip();
        _cleanup_free_ char *find =
                xasprintf("ls %s/lib/modules | head -1 | tr -d '\\n' > /tmp/vmc-kver", root);
        assert_int_equal(system(find), 0);
        _cleanup_free_ char *version = NULL;
        assert_int_equal(read_full_file("/tmp/vmc-kver", 256, &version, NULL), 0);
        char *drivers[] = {(char *)"virtio_blk", (char *)"virtio_scsi",
                           (char *)"virtio_net", (char *)"virtio_pci",
                           (char *)"sd_mod",     (char *)"ext4",
                           (char *)"hv_storvsc", NULL};
        _cleanup_free_ char *init = vmcompose_init_path(arch_find("amd64"));
        InitramfsRequest req = {
                .root_dir = root,
                .version = version,
                .architecture = "amd64",
                .drivers = drivers,
                .init_path = init,
                .mtime = 0,
                .out_path = "tmp/vmc-initrd.img",
        };
        assert_int_equal(initramfs_write(&req), 0);
        /* GNU cpio reads it too; and initramfs_list(). */
        _cleanup_free_ char *cpio =
                xasprintf("cpio --quiet -t <%s/tmp/vmc-initrd.img >/tmp/vmc-initrd.list", root);
        assert_int_equal(system(cpio), 0);
        assert_int_equal(system("grep -q 'virtio_blk.ko$' /tmp/vmc-initrd.list"), 0);
        Buffer list = {};
        _cleanup_close_ int root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_int_equal(initramfs_list(root_fd, "tmp/vmc-initrd.img", &list), 0);
        assert_non_null(strstr(list.data, "/kernel/drivers/scsi/sd_mod.ko\n"));
        assert_non_null(strstr(list.data, "\ninit\n"));
        buffer_done(&list);
        _cleanup_free_ char *img = xasprintf("%s/tmp/vmc-initrd.img", root);
        unlink(img);
        unlink("/tmp/vmc-initrd.list");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_cmdline),       cmocka_unit_test(test_partuuid),
                cmocka_unit_test(test_probe_ext4),    cmocka_unit_test(test_cpio),
                cmocka_unit_test(test_write),         cmocka_unit_test(test_real_root),
                cmocka_unit_test(test_init_per_arch),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
