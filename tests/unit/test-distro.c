/* SPDX-License-Identifier: MIT */
/* The distribution backends' table and the Debian row's pure and root-confined operations:
 * the initramfs-tools settings, the dpkg status database, DEP-5 licences and removing a path,
 * on a small root made here (no chroot, no root needed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../composer/distro/debian/debian.h"
#include "../../composer/distro/debian/native.h"
#include "vmcompose/install.h"
#include "vmcompose/bootloader.h"
#include "vmcompose/distro.h"
#include "vmcompose/profile.h"
#include "vmcompose/rootfs.h"
#include "vmcompose/signals.h"

static void test_find(void **state) {
        (void)state;
        const DistroOps *d = distro_find("debian");
        assert_non_null(d);
        assert_string_equal(d->family, "debian");
        assert_string_equal(d->package_suffix, ".deb");
        assert_true(d->merged_usr);
        assert_string_equal(distro_find("fedora")->package_format, "rpm");
        assert_string_equal(distro_find("azurelinux")->package_format, "rpm");
        assert_false(distro_find("fedora")->merged_usr); /* the filesystem package's links */
        assert_null(distro_find("alpine"));
        assert_null(distro_find(""));
        assert_null(distro_find(NULL));
}

/* Every row is complete: a backend with a missing operation would crash a stage. */
static void test_rows_complete(void **state) {
        size_t n;
        const DistroOps *const *all = distro_list(&n);
        (void)state;
        assert_true(n >= 1);
        for (size_t i = 0; i < n; i++) {
                const DistroOps *d = all[i];
                assert_ptr_equal(distro_find(d->family), d);
                assert_non_null(d->package_format);
                assert_non_null(d->default_initramfs);
                assert_non_null(d->purl_type);
                assert_non_null(d->purl_namespace);
                assert_non_null(d->default_config_root);
                assert_non_null(d->resolver_family);
                assert_non_null(resolver_backend_find(d->resolver_family));
                assert_non_null(d->repos_load);
                assert_non_null(d->repos_fetch);
                assert_non_null(d->install_root);
                assert_non_null(d->initramfs_settings);
                assert_non_null(d->list_installed);
                assert_non_null(d->verify_installed);
                assert_non_null(d->read_installed);
                assert_non_null(d->db_name);
                assert_true(d->db_status_path && d->db_status_path[0] == '/');
                assert_true(d->db_lists_dir && d->db_lists_dir[0] == '/');
                assert_non_null(d->parse_installed);
                assert_non_null(d->list_package);
                /* Families may share a format (Fedora and Azure Linux: rpm): one row reads
                 * its database for all. */
                assert_string_equal(distro_find_format(d->package_format)->db_status_path,
                                    d->db_status_path);
                assert_true(distro_is_database_file(d->db_status_path));
                assert_non_null(d->package_members);
                assert_non_null(d->remove_path);
                assert_non_null(d->package_license);
                assert_non_null(d->purl);
                assert_non_null(d->initramfs_list);
                /* The family's boot data file is shipped, and every boot loader vmcompose
                 * makes has the family's packages in it. */
                DistroBootData bd = {};
                Diagnostics diag = {};
                assert_int_equal(distro_boot_data_load(d, vmcompose_data_dir(), &bd, &diag), 0);
                assert_non_null(bd.esp_vendor_dir);
                /* Every family mounts the ESP on /boot/efi (the fstab vmcompose writes). */
                assert_string_equal(bd.esp_mount, "boot/efi");
                static const char *const loaders[] = {"systemd-boot", "shim", "grub-bios", "uki",
                                                      "grub-efi"};
                for (size_t j = 0; j < sizeof(loaders) / sizeof(*loaders); j++) {
                        assert_non_null(bootloader_find(loaders[j]));
                        for (size_t k = 0; k < 2; k++) {
                                const char *arch = k == 0 ? "amd64" : "arm64";
                                const char *const *p = distro_boot_packages(&bd, loaders[j], arch);
                                assert_non_null(p);
                                assert_non_null(p[0]);
                        }
                }
                assert_null(distro_boot_packages(&bd, "lilo", "amd64"));
                distro_boot_data_done(&bd);
        }
}

static void test_debian_boot_packages(void **state) {
        const DistroOps *d = distro_find("debian");
        DistroBootData bd = {};
        Diagnostics diag = {};
        (void)state;
        assert_int_equal(distro_boot_data_load(d, vmcompose_data_dir(), &bd, &diag), 0);
        assert_string_equal(bd.esp_vendor_dir, "debian");
        const char *const *shim = distro_boot_packages(&bd, "shim", "amd64");
        assert_string_equal(shim[0], "shim-signed");
        assert_string_equal(shim[1], "grub-efi-amd64-signed");
        assert_null(shim[2]);
        assert_string_equal(distro_boot_packages(&bd, "grub-bios", "amd64")[0], "grub-pc-bin");
        assert_string_equal(distro_boot_packages(&bd, "grub-efi", "amd64")[0],
                            "grub-efi-amd64-bin");
        assert_string_equal(distro_boot_packages(&bd, "systemd-boot", "amd64")[0],
                            "systemd-boot-efi");
        assert_string_equal(distro_boot_packages(&bd, "uki", "amd64")[0], "systemd-boot-efi");
        /* arm64: Debian's signed arm64 shim and GRUB; systemd-boot-efi has the same name. */
        shim = distro_boot_packages(&bd, "shim", "arm64");
        assert_string_equal(shim[0], "shim-signed");
        assert_string_equal(shim[1], "grub-efi-arm64-signed");
        assert_null(shim[2]);
        assert_string_equal(distro_boot_packages(&bd, "grub-efi", "arm64")[0],
                            "grub-efi-arm64-bin");
        assert_string_equal(distro_boot_packages(&bd, "systemd-boot", "arm64")[0],
                            "systemd-boot-efi");
        assert_string_equal(distro_boot_packages(&bd, "uki", "arm64")[0], "systemd-boot-efi");
        distro_boot_data_done(&bd);
}

/* A boot data file's problems are each named with its file, line and column; a missing file
 * with its path. */
static void test_boot_data_errors(void **state) {
        DistroBootData bd = {};
        Diagnostics diag = {};
        (void)state;

        static const char empty_list[] = "esp-vendor-dir: x\npackages:\n  grub-bios: []\n";
        assert_int_equal(
                distro_boot_data_parse("x.yaml", empty_list, strlen(empty_list), &bd, &diag), 0);
        assert_non_null(distro_boot_packages(&bd, "grub-bios", "amd64"));
        assert_null(distro_boot_packages(&bd, "grub-bios", "amd64")[0]);
        assert_null(distro_boot_packages(&bd, "shim", "amd64"));
        distro_boot_data_done(&bd);

        static const char bad[] = "esp-vendor-dir: ../x\n"
                                  "packages:\n"
                                  "  systemd-boot: systemd-boot-efi\n"
                                  "  lilo: [lilo]\n"
                                  "  shim: [shim-signed, {a: b}]\n"
                                  "vendor: x\n";
        assert_int_equal(distro_boot_data_parse("d/fam.yaml", bad, strlen(bad), &bd, &diag),
                         -EBADMSG);
        assert_null(bd.path);
        assert_int_equal(diag.n_errors, 5);
        assert_non_null(strstr(diag.messages[0], "d/fam.yaml:1:17: esp-vendor-dir:"));
        assert_non_null(strstr(diag.messages[1], "d/fam.yaml:3:17: packages.systemd-boot: a list"));
        assert_non_null(strstr(diag.messages[2], "d/fam.yaml:4:3: packages: lilo is not a boot"));
        assert_non_null(strstr(diag.messages[3], "d/fam.yaml:5:23: packages.shim: a package name"));
        assert_non_null(strstr(diag.messages[4], "d/fam.yaml:6:1: unknown key vendor"));
        diag_done(&diag);

        assert_int_equal(distro_boot_data_parse("e.yaml", "", 0, &bd, &diag), -EBADMSG);
        assert_int_equal(diag.n_errors, 2);
        assert_string_equal(diag.messages[0], "e.yaml: esp-vendor-dir is missing");
        diag_done(&diag);

        /* esp-mount: an absolute path, kept relative to the root; none when not given. */
        static const char mount[] = "esp-vendor-dir: x\nesp-mount: /efi/\npackages: {}\n";
        assert_int_equal(distro_boot_data_parse("m.yaml", mount, strlen(mount), &bd, &diag),
                         -EBADMSG);
        assert_int_equal(diag.n_errors, 1);
        assert_non_null(strstr(diag.messages[0], "m.yaml:2:12: esp-mount: an absolute path"));
        diag_done(&diag);
        static const char mount_ok[] = "esp-vendor-dir: x\nesp-mount: /efi\npackages: {}\n";
        assert_int_equal(distro_boot_data_parse("m.yaml", mount_ok, strlen(mount_ok), &bd, &diag),
                         0);
        assert_string_equal(bd.esp_mount, "efi");
        distro_boot_data_done(&bd);
        assert_int_equal(
                distro_boot_data_parse("x.yaml", empty_list, strlen(empty_list), &bd, &diag), 0);
        assert_null(bd.esp_mount);
        distro_boot_data_done(&bd);

        static const char broken[] = "esp-vendor-dir: [\n";
        assert_int_equal(distro_boot_data_parse("b.yaml", broken, strlen(broken), &bd, &diag),
                         -EBADMSG);
        assert_non_null(strstr(diag.messages[0], "b.yaml:"));
        diag_done(&diag);

        assert_int_equal(distro_boot_data_load(distro_find("debian"), "/nonexistent", &bd, &diag),
                         -ENOENT);
        assert_non_null(strstr(diag.messages[0], "/nonexistent/bootloader/distro/debian.yaml: "
                                                 "cannot read the debian family's boot data"));
        diag_done(&diag);
}

/* Where each shipped family's shim and GRUB are in the root, for each architecture, and where
 * grub.cfg goes on the ESP: Debian's signed packages and EFI/debian (the default from
 * esp-vendor-dir); Fedora's /boot/efi/EFI/fedora and both beside GRUB and in EFI/fedora. */
static void test_shim_files(void **state) {
        DistroBootData bd = {};
        Diagnostics diag = {};
        ShimFiles f = {};
        (void)state;

        assert_int_equal(
                distro_boot_data_load(distro_find("debian"), vmcompose_data_dir(), &bd, &diag), 0);
        assert_int_equal(distro_boot_shim_files(&bd, arch_find("arm64"), &f, &diag), 0);
        assert_string_equal(f.shim, "usr/lib/shim/shimaa64.efi.signed");
        assert_string_equal(f.grub, "usr/lib/grub/arm64-efi-signed/grubaa64.efi.signed");
        assert_string_equal(f.mok_manager, "usr/lib/shim/mmaa64.efi.signed");
        assert_string_equal(f.grub_cfg[0], "EFI/debian/grub.cfg");
        assert_null(f.grub_cfg[1]);
        shim_files_done(&f);
        distro_boot_data_done(&bd);

        assert_int_equal(
                distro_boot_data_load(distro_find("fedora"), vmcompose_data_dir(), &bd, &diag), 0);
        assert_int_equal(distro_boot_shim_files(&bd, arch_find("amd64"), &f, &diag), 0);
        assert_string_equal(f.shim, "boot/efi/EFI/fedora/shimx64.efi");
        assert_string_equal(f.grub, "boot/efi/EFI/fedora/grubx64.efi");
        assert_string_equal(f.mok_manager, "boot/efi/EFI/fedora/mmx64.efi");
        assert_string_equal(f.grub_cfg[0], "EFI/BOOT/grub.cfg");
        assert_string_equal(f.grub_cfg[1], "EFI/fedora/grub.cfg");
        assert_null(f.grub_cfg[2]);
        shim_files_done(&f);
        /* arm64: Fedora's aa64 packages and file names. */
        assert_int_equal(distro_boot_shim_files(&bd, arch_find("arm64"), &f, &diag), 0);
        assert_string_equal(f.shim, "boot/efi/EFI/fedora/shimaa64.efi");
        assert_string_equal(f.grub, "boot/efi/EFI/fedora/grubaa64.efi");
        shim_files_done(&f);
        const char *const *pk = distro_boot_packages(&bd, "shim", "arm64");
        assert_string_equal(pk[0], "shim-aa64");
        assert_string_equal(pk[1], "grub2-efi-aa64");
        assert_string_equal(distro_boot_packages(&bd, "shim", "amd64")[0], "shim-x64");
        distro_boot_data_done(&bd);

        /* No shim section: the build is told, naming the file. */
        static const char none[] = "esp-vendor-dir: x\npackages:\n  shim: [s]\n";
        assert_int_equal(distro_boot_data_parse("n.yaml", none, strlen(none), &bd, &diag), 0);
        assert_int_equal(distro_boot_shim_files(&bd, arch_find("amd64"), &f, &diag), -EBADMSG);
        assert_non_null(strstr(diag.messages[0], "n.yaml: shim: where shim and GRUB are"));
        diag_done(&diag);
        distro_boot_data_done(&bd);

        /* Each problem of the section with its file, line and column. */
        static const char bad[] = "esp-vendor-dir: x\n"
                                  "packages: {}\n"
                                  "shim:\n"
                                  "  shim: usr/lib/shim.efi\n"
                                  "  grub: /boot/@ARCH@/grub.efi\n"
                                  "  mok-manager: /boot/../mm.efi\n"
                                  "  grub-cfg: [/EFI/x/grub.cfg, {a: b}]\n"
                                  "  fallback: /fb.efi\n";
        assert_int_equal(distro_boot_data_parse("s.yaml", bad, strlen(bad), &bd, &diag), -EBADMSG);
        assert_int_equal(diag.n_errors, 6);
        assert_non_null(strstr(diag.messages[0], "s.yaml:4:9: shim.shim: an absolute path"));
        assert_non_null(strstr(diag.messages[1], "s.yaml:5:9: shim.grub:1:7: unknown variable "
                                                 "@ARCH@ (this file may use @EFI_SUFFIX@, "
                                                 "@GRUB_EFI_PLATFORM@"));
        assert_non_null(strstr(diag.messages[2], "s.yaml:6:16: shim.mok-manager: an absolute"));
        assert_non_null(strstr(diag.messages[3], "s.yaml:7:31: shim.grub-cfg: a path is"));
        assert_non_null(strstr(diag.messages[4], "s.yaml:8:3: unknown key shim.fallback"));
        assert_non_null(strstr(diag.messages[5], "s.yaml:4:3: shim: shim and grub are required"));
        diag_done(&diag);
}

/* dpkg's status as the image readers (audit, diff) see it: the packages whose files are on
 * disk; its file lists, and nothing else, are database files. */
static void test_debian_database_files(void **state) {
        const DistroOps *d = distro_find("debian");
        AuditImage img = {};
        char *err = NULL;
        (void)state;

        static const char status[] = "Package: zsh\n"
                                     "Status: install ok half-configured\n"
                                     "Version: 5.9-4\n"
                                     "Architecture: amd64\n"
                                     "\n"
                                     "Package: gone\n"
                                     "Status: deinstall ok config-files\n"
                                     "\n"
                                     "Package: bash\n"
                                     "Status: install ok installed\n"
                                     "Section: shells\n"
                                     "Installed-Size: 2\n"
                                     "Source: bash (5.2-1)\n"
                                     "Version: 5.2.15-2+b2\n"
                                     "Architecture: amd64\n";
        assert_int_equal(d->parse_installed(status, strlen(status), &img, &err), 0);
        assert_int_equal(img.n_packages, 2);
        assert_string_equal(img.packages[0].name, "bash"); /* sorted */
        assert_string_equal(img.packages[0].source, "bash");
        assert_string_equal(img.packages[0].section, "shells");
        assert_int_equal(img.packages[0].installed_size, 2048);
        assert_string_equal(img.packages[1].name, "zsh");
        assert_string_equal(img.packages[1].version, "5.9-4");
        audit_image_done(&img);

        static const char bad[] = "Package: a\nStatus: install ok installed\n\nVersion: 1\n";
        assert_int_equal(d->parse_installed(bad, strlen(bad), &img, &err), -EBADMSG);
        assert_non_null(strstr(err, "stanza without Package: at line 4"));
        free(err);
        audit_image_done(&img);
        assert_int_equal(d->parse_installed("a\0b", 3, &img, &err), -EBADMSG);
        free(err);
        audit_image_done(&img);

        assert_int_equal(d->list_package("nano.list"), 4);
        assert_int_equal(d->list_package("libc6:amd64.list"), 5);
        assert_int_equal(d->list_package("nano.md5sums"), 0);
        assert_int_equal(d->list_package(".list"), 0);
        assert_int_equal(d->list_package("sub/x.list"), 0);
        assert_true(distro_is_database_file("/var/lib/dpkg/info/libc6:amd64.list"));
        assert_false(distro_is_database_file("/var/lib/dpkg/info/sub/x.list"));
        assert_false(distro_is_database_file("/var/lib/dpkg/statusx"));
        assert_false(distro_is_database_file("/etc/status"));
        assert_string_equal(distro_find_format("rpm")->db_status_path, "/var/lib/rpm/rpmdb.sqlite");
        assert_false(distro_is_database_file("/var/lib/rpm/rpmdb.sqlite-shm"));
        assert_null(distro_find_format("apk"));
        assert_null(distro_find_format(NULL));
}

static void free_files(InstallFile *f, size_t n) {
        for (size_t i = 0; i < n; i++)
                free((char *)f[i].content);
        free(f);
}

static void test_debian_initramfs_settings(void **state) {
        const DistroOps *d = distro_find("debian");
        char *drivers[] = {(char *)"hv_vmbus", (char *)"it's", NULL};
        InstallFile *f = NULL;
        size_t n = 0;
        (void)state;

        d->initramfs_settings(&(DistroInitramfsSettings){.root_fstype = "xfs",
                                                         .drivers = drivers,
                                                         .only_target_modules = true},
                              &f, &n);
        assert_int_equal(n, 5);
        assert_string_equal(f[0].path, "etc/initramfs-tools/conf.d/vmcompose-fstype");
        assert_string_equal(f[0].content, "# Written by vmcompose\nFSTYPE=xfs\n");
        assert_string_equal(f[1].path, "etc/initramfs-tools/hooks/vmcompose-drivers");
        assert_int_equal(f[1].mode, 0755);
        assert_non_null(strstr(f[1].content, "\nmanual_add_modules hv_vmbus 'it'\\''s'\n"));
        assert_string_equal(f[4].path, "etc/initramfs-tools/conf.d/vmcompose-modules");
        assert_non_null(strstr(f[4].content, "MODULES=list\n"));
        free_files(f, n);

        /* No root partition, no drivers, every module: ext4 and no MODULES=list. */
        d->initramfs_settings(&(DistroInitramfsSettings){}, &f, &n);
        assert_int_equal(n, 4);
        assert_string_equal(f[0].content, "FSTYPE=ext4\n");
        assert_non_null(strstr(f[1].content, "\nmanual_add_modules\n"));
        for (size_t i = 0; i < n; i++)
                assert_null(strstr(f[i].path, "vmcompose-modules"));
        free_files(f, n);
}

static void test_debian_root_database(void **state) {
        const DistroOps *d = distro_find("debian");
        char dir[] = "/tmp/vmcompose-distro-XXXXXX";
        (void)state;
        assert_non_null(mkdtemp(dir));
        int root_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(root_fd >= 0);

        /* No database: no packages, no error. */
        AuditImage img = {};
        assert_int_equal(d->read_installed(root_fd, &img), 0);
        assert_int_equal(img.n_packages, 0);

        static const char status[] = "Package: zlib1g\nStatus: install ok installed\n"
                                     "Architecture: amd64\nVersion: 1:1.2.13\n\n"
                                     "Package: base-files\nStatus: install ok installed\n"
                                     "Architecture: amd64\nVersion: 12.4\n";
        assert_int_equal(root_write_file(root_fd, "var/lib/dpkg/status", status, strlen(status),
                                         0644, ROOT_WRITE_MKDIR),
                         0);
        assert_int_equal(d->read_installed(root_fd, &img), 0);
        assert_int_equal(img.n_packages, 2);
        assert_string_equal(img.packages[0].name, "base-files");
        assert_string_equal(img.packages[1].version, "1:1.2.13");
        audit_image_done(&img);

        /* The licence comes from the package's DEP-5 copyright file; none: NULL. */
        static const char copyright[] =
                "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
                "Files: *\nCopyright: x\nLicense: Zlib\n";
        assert_int_equal(root_write_file(root_fd, "usr/share/doc/zlib1g/copyright", copyright,
                                         strlen(copyright), 0644, ROOT_WRITE_MKDIR),
                         0);
        LicenseInfo l = {};
        assert_int_equal(d->package_license(root_fd, "zlib1g", &l), 0);
        assert_string_equal(l.expression, "Zlib");
        license_info_done(&l);
        assert_int_equal(d->package_license(root_fd, "base-files", &l), 0);
        assert_null(l.expression);

        /* A path no alternative offers is removed, through a merged-/usr link, never followed. */
        assert_int_equal(root_write_file(root_fd, "usr/bin/x", "x", 1, 0755, ROOT_WRITE_MKDIR), 0);
        assert_int_equal(symlinkat("usr/bin", root_fd, "bin"), 0);
        Diagnostics diag = {};
        assert_int_equal(d->remove_path(dir, root_fd, "/bin/x", &diag), 0);
        assert_int_equal(diag.n_errors, 0);
        assert_int_equal(faccessat(root_fd, "usr/bin/x", F_OK, AT_SYMLINK_NOFOLLOW), -1);
        assert_int_equal(faccessat(root_fd, "bin", F_OK, AT_SYMLINK_NOFOLLOW), 0);

        close(root_fd);
        assert_int_equal(rm_rf(dir), 0);
}

static void test_debian_purl(void **state) {
        const DistroOps *d = distro_find("debian");
        (void)state;
        char *p = d->purl("zlib1g", "1:1.2.13", "amd64", "debian-12");
        assert_string_equal(p, "pkg:deb/debian/zlib1g@1%3A1.2.13?arch=amd64&distro=debian-12");
        free(p);
}

/* dpkg's rounds: after every package pre-depended on, with every package depended on. */
static void test_debian_install_levels(void **state) {
        char *pre_b[] = {(char *)"a", NULL}, *dep_c[] = {(char *)"b", NULL};
        char *pre_d[] = {(char *)"c", NULL}, *dep_e[] = {(char *)"boot", NULL};
        InstallPackage pkgs[] = {
                {.name = "boot"},
                {.name = "a"},
                {.name = "b", .pre_depends = pre_b},
                {.name = "c", .depends = dep_c},
                {.name = "d", .pre_depends = pre_d},
                {.name = "e", .depends = dep_e},
        };
        bool done[] = {true, false, false, false, false, false};
        unsigned level[6] = {}, max = 99;
        (void)state;

        assert_int_equal(debian_install_levels(pkgs, 6, done, level, &max), 0);
        assert_int_equal(level[1], 0); /* a */
        assert_int_equal(level[2], 1); /* b after a */
        assert_int_equal(level[3], 1); /* c with b */
        assert_int_equal(level[4], 2); /* d after c */
        assert_int_equal(level[5], 0); /* e: what it depends on is done */
        assert_int_equal(max, 2);

        /* A Pre-Depends cycle is refused. */
        char *pre_x[] = {(char *)"y", NULL}, *pre_y[] = {(char *)"x", NULL};
        InstallPackage cyc[] = {{.name = "x", .pre_depends = pre_x},
                                {.name = "y", .pre_depends = pre_y}};
        bool none[2] = {};
        unsigned lv[2] = {};
        assert_int_equal(debian_install_levels(cyc, 2, none, lv, &max), -ELOOP);
}

/* The members a package lists, as "d|f SIZE PATH" lines. */
static int collect_member(const char *path, uint64_t size, bool directory, void *userdata) {
        buffer_printf(userdata, "%c %llu %s\n", directory ? 'd' : 'f', (unsigned long long)size,
                      path);
        return 0;
}

/* The members cache: the first call reads the .deb and keeps its list under the SHA-256; later
 * calls give the same members without the package file; a damaged cache file is read past. */
static void test_members_cache(void **state) {
        (void)state;
        const DistroOps *d = distro_find("debian");
        char dir[] = "/tmp/vmcompose-members-XXXXXX";
        assert_non_null(mkdtemp(dir));
        _cleanup_free_ char *cmd = xasprintf(
                "set -e; cd %s; mkdir -p p/DEBIAN p/usr/share/doc/t p/usr/bin; "
                "printf 'Package: t\\nVersion: 1\\nArchitecture: all\\nMaintainer: x <x@y>\\n"
                "Description: t\\n' >p/DEBIAN/control; echo hello >p/usr/bin/t; "
                "head -c 5000 /dev/zero >p/usr/share/doc/t/README; "
                "dpkg-deb --root-owner-group -Zgzip --build p t.deb >/dev/null",
                dir);
        if (system("command -v dpkg-deb >/dev/null") != 0 || system(cmd) != 0) {
                rm_rf(dir);
                skip();
        }
        static const char sha[] =
                "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        _cleanup_free_ char *deb = xasprintf("%s/t.deb", dir), *gone = xasprintf("%s/gone", dir);
        _cleanup_free_ char *cache = xasprintf("%s/cache", dir);
        _cleanup_free_ char *file = xasprintf("%s/members/%s", cache, sha);
        Buffer want = {}, miss = {}, hit = {}, again = {};

        assert_int_equal(d->package_members(deb, collect_member, &want), 0);
        assert_non_null(strstr(want.data, "f 6 /usr/bin/t\n"));
        assert_int_equal(distro_package_members_cached(d, cache, sha, deb, collect_member, &miss),
                         0);
        assert_string_equal(want.data, miss.data);
        assert_int_equal(access(file, F_OK), 0);

        /* The package file is gone: the cache alone answers, the same members in order. */
        assert_int_equal(rename(deb, gone), 0);
        assert_int_equal(distro_package_members_cached(d, cache, sha, deb, collect_member, &hit),
                         0);
        assert_string_equal(want.data, hit.data);
        assert_int_not_equal(d->package_members(deb, collect_member, &again), 0);
        buffer_done(&again);

        /* A damaged cache file: ignored, the package read and the file written again. */
        assert_int_equal(rename(gone, deb), 0);
        assert_int_equal(write_file_atomic(file, "vmcompose-members 1\nx 1 /a\n", 26, 0644), 0);
        assert_int_equal(distro_package_members_cached(d, cache, sha, deb, collect_member, &again),
                         0);
        assert_string_equal(want.data, again.data);
        _cleanup_free_ char *text = NULL;
        size_t n;
        assert_int_equal(read_full_file(file, 1 << 20, &text, &n), 0);
        assert_non_null(strstr(text, "f 5000 /usr/share/doc/t/README\n"));
        buffer_done(&want);
        buffer_done(&miss);
        buffer_done(&hit);
        buffer_done(&again);
        rm_rf(dir);
}

/* The host's installed packages, as an image of arch would have them (same names, versions). */
static size_t host_packages(const char *arch, InstallPackage **ret, char ***ret_strings) {
        FILE *f = popen("dpkg-query -W -f '${Package} ${Version} ${Architecture} "
                        "${db:Status-Abbrev}\\n' 2>/dev/null",
                        "r");
        char line[512];
        size_t n = 0;
        InstallPackage *pkgs = NULL;
        char **strings = NULL;
        const char *host = arch_host()->name;
        while (f && fgets(line, sizeof(line), f)) {
                char name[200], version[200], a[50], status[10];
                if (sscanf(line, "%199s %199s %49s %9s", name, version, a, status) != 4 ||
                    strcmp(a, host) != 0 || strcmp(status, "ii") != 0)
                        continue;
                strv_extend(&strings, name);
                strv_extend(&strings, version);
                pkgs = realloc(pkgs, (n + 1) * sizeof(*pkgs));
                pkgs[n++] = (InstallPackage){.architecture = arch};
        }
        if (f)
                pclose(f);
        for (size_t i = 0; i < n; i++) {
                pkgs[i].name = strings[2 * i];
                pkgs[i].version = strings[2 * i + 1];
        }
        *ret = pkgs;
        *ret_strings = strings;
        return n;
}

static InstallPackage *find_pkg(InstallPackage *pkgs, size_t n, const char *name) {
        for (size_t i = 0; i < n; i++)
                if (streq(pkgs[i].name, name))
                        return &pkgs[i];
        return NULL;
}

/* Native twins chosen from the host's real package database: a program runs natively only when
 * its package and every library it loads are the image's versions, and the root has it. */
static void test_native_select(void **state) {
        (void)state;
        if (!arch_host() || access("/var/lib/dpkg/status", R_OK) < 0)
                skip();
        InstallPackage *pkgs = NULL;
        _cleanup_strv_free_ char **strings = NULL;
        size_t n = host_packages("arm64", &pkgs, &strings);
        InstallPackage *coreutils = find_pkg(pkgs, n, "coreutils"),
                       *libc = find_pkg(pkgs, n, "libc6"), *dash = find_pkg(pkgs, n, "dash");
        if (!coreutils || !libc || !dash) {
                free(pkgs);
                skip();
        }
        char dir[] = "/tmp/vmcompose-native-XXXXXX";
        assert_non_null(mkdtemp(dir));
        _cleanup_close_ int root = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_int_equal(root_mkdir_p(root, "usr/bin", 0755), 0);
        assert_int_equal(symlinkat("usr/bin", root, "bin"), 0);
        const char *in_root[] = {"usr/bin/ls",       "usr/bin/uname",      "usr/bin/dash",
                                 "usr/bin/dpkg-deb", "usr/bin/dpkg-split", "usr/bin/dpkg"};
        for (size_t i = 0; i < ELEMENTSOF(in_root); i++)
                assert_int_equal(root_write_file(root, in_root[i], "", 0, 0755, 0), 0);
        NativeHost host = {"/var/lib/dpkg/status", "/var/lib/dpkg/info", arch_host()};
        NativeSet set = {};
        assert_int_equal(native_select(&host, pkgs, n, "arm64", &set), 0);
        assert_true(strv_contains(set.names, "ls"));
        assert_true(strv_contains(set.names, "dash"));
        assert_true(strv_contains(set.binds, "usr/bin/dash")); /* /bin/sh's interpreter */
        assert_false(strv_contains(set.names, "uname"));       /* would say x86_64 */
        assert_true(strv_contains(set.names, "dpkg-deb"));     /* vmcompose-deb */
        assert_non_null(set.interp);
        assert_true(strv_length(set.libs) > 0);

        /* In PATH only what the root has now: cat once it is unpacked. */
        assert_int_equal(root_mkdir_p(root, "dev/.vmc-native/all", 0755), 0);
        assert_int_equal(root_mkdir_p(root, "dev/.vmc-native/bin", 0755), 0);
        for (size_t i = 0; set.names[i]; i++) {
                _cleanup_free_ char *p = xasprintf("dev/.vmc-native/all/%s", set.names[i]);
                assert_int_equal(root_write_file(root, p, "", 0, 0755, 0), 0);
        }
        set.active = true;
        assert_int_equal(native_refresh(&set, root), 0);
        assert_int_equal(faccessat(root, "dev/.vmc-native/bin/ls", F_OK, 0), 0);
        assert_int_equal(faccessat(root, "dev/.vmc-native/bin/dash", F_OK, 0), 0);
        assert_int_equal(faccessat(root, "dev/.vmc-native/bin/cat", F_OK, 0), -1);
        assert_int_equal(root_write_file(root, "usr/bin/cat", "", 0, 0755, 0), 0);
        assert_int_equal(native_refresh(&set, root), 0);
        assert_int_equal(faccessat(root, "dev/.vmc-native/bin/cat", F_OK, 0), 0);
        set.active = false;
        native_set_done(&set);

        /* coreutils at another version: ls stays emulated, dash does not. */
        const char *v = coreutils->version;
        coreutils->version = "0:0-other";
        assert_int_equal(native_select(&host, pkgs, n, "arm64", &set), 0);
        assert_false(strv_contains(set.names, "ls"));
        assert_true(strv_contains(set.names, "dash"));
        native_set_done(&set);
        coreutils->version = v;

        /* An image of another architecture's packages only (arch all, say): nothing. */
        assert_int_equal(native_select(&host, pkgs, n, "armhf", &set), 0);
        assert_null(set.programs);
        native_set_done(&set);

        /* libc6 at another version: every program loads it, so none runs natively. */
        libc->version = "0:0-other";
        assert_int_equal(native_select(&host, pkgs, n, "arm64", &set), 0);
        assert_null(set.programs);
        native_set_done(&set);
        free(pkgs);
        rm_rf(dir);
}

/* vmcompose-deb answers dpkg's three questions exactly as dpkg-deb and dpkg-split do, on a plain
 * archive; a compressed one goes to the real program. */
static void test_deb_helper(void **state) {
        (void)state;
        _cleanup_free_ char *helper = vmcompose_libexec_path("vmcompose-deb");
        if (access(helper, X_OK) < 0 || access("/usr/bin/dpkg-deb", X_OK) < 0)
                skip();
        char dir[] = "/tmp/vmcompose-debhelper-XXXXXX";
        assert_non_null(mkdtemp(dir));
        _cleanup_free_ char *script = xasprintf(
                "set -e; cd %s; mkdir -p p/DEBIAN p/usr/share/t; "
                "printf 'Package: t\nVersion: 1\nArchitecture: all\nMaintainer: x <x@y>\n"
                "Description: t\n' >p/DEBIAN/control; printf '#!/bin/sh\nexit 0\n' "
                ">p/DEBIAN/postinst; chmod 755 p/DEBIAN/postinst; echo data >p/usr/share/t/f; "
                "dpkg-deb -Zxz --root-owner-group -b p t.deb >/dev/null; "
                "ln -s %s dpkg-deb; ln -s %s dpkg-split; ln -s %s dpkg",
                dir, helper, helper, helper);
        assert_int_equal(system(script), 0);
        _cleanup_free_ char *deb = path_join(dir, "t.deb"), *plain = path_join(dir, "plain.deb");
        _cleanup_close_ int out = open(plain, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        assert_int_equal(deb_repack_plain(deb, out), 0);
        for (int compressed = 0; compressed < 2; compressed++) {
                const char *f = compressed ? "t.deb" : "plain.deb";
                _cleanup_free_ char *check = xasprintf(
                        "set -e; cd %s; rm -rf c1 c2; ./dpkg-deb --control %s c1; "
                        "/usr/bin/dpkg-deb --control %s c2; diff -r c1 c2; "
                        "test \"$(stat -c %%a c1/postinst)\" = 755; "
                        "./dpkg-deb --fsys-tarfile %s >d1; /usr/bin/dpkg-deb --fsys-tarfile %s "
                        ">d2; cmp d1 d2; tar -tf d1 | grep -q usr/share/t/f; "
                        "rc=0; ./dpkg-split -Qao r %s || rc=$?; test $rc = 1",
                        dir, f, f, f, f, f);
                assert_int_equal(system(check), 0);
        }
        /* dpkg's version checks answered natively as dpkg answers them (no fallback here). */
        static const char *const versions[] = {
                "",           "<unknown>",       "1.0",  "1.0-1", "1:0.9", "1.0~rc1", "1.0+b1",
                "1.0-1~bpo1", "2.36-9+deb12u14", "1.00", "1.0a",  "10",    "1.0.0"};
        static const char *const ops[] = {"lt", "le",    "eq",    "ne",    "ge",
                                          "gt", "lt-nl", "le-nl", "ge-nl", "gt-nl",
                                          "<<", "<=",    "=",     ">=",    ">>"};
        unsigned checked = 0;
        for (size_t a = 0; a < ELEMENTSOF(versions); a++)
                for (size_t b = 0; b < ELEMENTSOF(versions); b += 2)
                        for (size_t o = 0; o < ELEMENTSOF(ops); o += (a + b) % 3 + 1) {
                                _cleanup_free_ char *mine =
                                        xasprintf("cd %s && VMCOMPOSE_DEB_NO_FALLBACK=1 ./dpkg "
                                                  "--compare-versions '%s' '%s' '%s'",
                                                  dir, versions[a], ops[o], versions[b]);
                                _cleanup_free_ char *theirs =
                                        xasprintf("/usr/bin/dpkg --compare-versions '%s' '%s' '%s'",
                                                  versions[a], ops[o], versions[b]);
                                int m = system(mine), t = system(theirs);
                                assert_int_not_equal(WEXITSTATUS(m), 3);
                                if (WEXITSTATUS(m) != WEXITSTATUS(t))
                                        fail_msg("%s %s %s: %d, dpkg %d", versions[a], ops[o],
                                                 versions[b], WEXITSTATUS(m), WEXITSTATUS(t));
                                checked++;
                        }
        assert_true(checked > 100);
        for (size_t a = 2; a < ELEMENTSOF(versions); a++) {
                _cleanup_free_ char *valid = xasprintf(
                        "cd %s && VMCOMPOSE_DEB_NO_FALLBACK=1 ./dpkg --validate-version -- '%s'",
                        dir, versions[a]);
                assert_int_equal(system(valid), 0);
        }
        /* Not plainly valid: not answered here (dpkg says what is wrong). */
        static const char *const odd[] = {"a1", "1.0-", "1:", "x:1", "1 0", "1_0", "-1"};
        for (size_t a = 0; a < ELEMENTSOF(odd); a++) {
                _cleanup_free_ char *valid = xasprintf(
                        "cd %s && VMCOMPOSE_DEB_NO_FALLBACK=1 ./dpkg --validate-version -- '%s'",
                        dir, odd[a]);
                assert_int_equal(WEXITSTATUS(system(valid)), 3);
        }

        /* Any other use: the real program's answer. */
        _cleanup_free_ char *other =
                xasprintf("cd %s && ./dpkg-deb -f plain.deb Package | grep -qx t", dir);
        assert_int_equal(system(other), 0);
        rm_rf(dir);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_find),
                cmocka_unit_test(test_rows_complete),
                cmocka_unit_test(test_debian_boot_packages),
                cmocka_unit_test(test_boot_data_errors),
                cmocka_unit_test(test_shim_files),
                cmocka_unit_test(test_debian_database_files),
                cmocka_unit_test(test_debian_initramfs_settings),
                cmocka_unit_test(test_debian_root_database),
                cmocka_unit_test(test_debian_purl),
                cmocka_unit_test(test_debian_install_levels),
                cmocka_unit_test(test_members_cache),
                cmocka_unit_test(test_native_select),
                cmocka_unit_test(test_deb_helper),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
