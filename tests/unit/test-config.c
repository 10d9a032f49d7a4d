/* SPDX-License-Identifier: MIT */
/* The build configuration read once from a profile (composer/pipeline/config.c): the shipped
 * minimal profile with and without its Azure target, and a profile without a disk (which can
 * still be locked: the disk stage reports it). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmcompose/bootloader.h"
#include "vmcompose/pipeline.h"
#include "vmcompose/signals.h"

static Profile *load(const char *path, const char *target) {
        const char *d = getenv("VMCOMPOSE_DATA_DIR");
        ProfileLoadOptions opts = {.data_dir = d ? d : ".", .target = target};
        Diagnostics diag = {};
        Profile *p = NULL;
        int r = profile_load(path, &opts, &diag, &p);
        diag_print(&diag);
        diag_done(&diag);
        assert_int_equal(r, 0);
        return p;
}

static void test_minimal(void **state) {
        Profile *p = load("profiles/minimal.yaml", NULL);
        BuildConfig c = {};
        Diagnostics diag = {};
        (void)state;

        assert_int_equal(build_config_load(p, "seed", &c, &diag), 0);
        assert_ptr_equal(c.distro, distro_find("debian"));
        assert_string_equal(c.architecture, "amd64");
        assert_non_null(c.release);
        assert_ptr_equal(c.bootloader, bootloader_find("systemd-boot"));
        assert_string_equal(c.bootloader_name, "systemd-boot");
        assert_string_equal(c.initramfs, "vmcompose");
        assert_non_null(c.initramfs_where);
        assert_true(c.initramfs_only_target);
        assert_string_equal(c.root_fstype, "ext4");
        assert_non_null(strstr(c.root_where, "minimal.yaml:"));
        /* kernel.modules: target with its keep list, each name with its line; the ESP's type. */
        assert_true(c.modules_only_target);
        assert_non_null(strstr(c.modules_where, "minimal.yaml:"));
        assert_true(strv_contains(c.modules_keep, "autofs4"));
        assert_int_equal(strv_length(c.modules_keep), strv_length(c.modules_keep_wheres));
        assert_non_null(strstr(c.modules_keep_wheres[0], "minimal.yaml:"));
        assert_string_equal(c.esp_fstype, "vfat");
        assert_true(c.bootloader->kernel_on_esp);
        /* The disk layout, read once, with its identifiers from the seed. */
        assert_int_equal(c.layout_error, 0);
        assert_true(c.layout.n_partitions >= 2);
        /* The request: the profile's packages, the kernel, the boot loader's package. */
        assert_true(strv_contains(c.install, "linux-image-cloud-amd64"));
        assert_true(strv_contains(c.install, "systemd-boot-efi"));
        assert_string_equal(c.base, "required");
        assert_true(c.n_forbid > 0);
        assert_int_equal(strv_length(c.forbid_origins), c.n_forbid);
        assert_true(strv_contains(c.strip_exclude, "/usr/share/doc/*"));
        assert_int_equal(strv_length(c.strip_remove), strv_length(c.strip_remove_policy));
        assert_true(strv_contains(c.outputs, "raw"));
        /* Each output's compression, in order: none unless the profile asks. */
        assert_int_equal(strv_length(c.output_compression), strv_length(c.outputs));
        assert_string_equal(c.output_compression[0], "none");
        build_config_done(&c);
        assert_null(c.install);
        profile_free(p);
}

static void test_target(void **state) {
        Profile *p = load("profiles/minimal.yaml", "azure-gen2");
        BuildConfig c = {};
        Diagnostics diag = {};
        (void)state;

        assert_int_equal(build_config_load(p, "seed", &c, &diag), 0);
        assert_string_equal(c.target_name, "azure");
        assert_non_null(c.target_path);
        assert_string_equal(c.initramfs, "initramfs-tools");
        assert_false(c.initramfs_only_target);
        assert_true(strv_contains(c.target_drivers, "hv_vmbus"));
        assert_int_equal(strv_length(c.target_drivers), strv_length(c.target_driver_wheres));
        /* The target's modules for after boot (kernel-config/azure.yaml's modules:). */
        assert_true(strv_contains(c.target_modules, "hv_balloon"));
        assert_false(strv_contains(c.target_modules, "hv_vmbus"));
        assert_int_equal(strv_length(c.target_modules), strv_length(c.target_module_wheres));
        assert_non_null(strstr(c.target_module_wheres[0], "azure.yaml:"));
        assert_true(c.n_kconfig > 0);
        for (size_t i = 0; i < c.n_kconfig; i++) {
                assert_true(strneq(c.kconfig[i].option, "CONFIG_", 7));
                assert_non_null(c.kconfig[i].where);
        }
        /* The command line: the profile's and the target's, each argument once. */
        assert_true(strv_contains(c.cmdline, "rootdelay=300"));
        for (char **a = c.cmdline; *a; a++)
                for (char **b = a + 1; *b; b++)
                        assert_string_not_equal(*a, *b);
        assert_true(strv_contains(c.forbid_cmdline, "quiet"));
        build_config_done(&c);
        profile_free(p);
}

static void test_no_disk(void **state) {
        char dir[] = "/tmp/vmcompose-config-XXXXXX";
        (void)state;
        assert_non_null(mkdtemp(dir));
        char *path = xasprintf("%s/nodisk.yaml", dir);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs("name: nodisk\ndistro:\n  family: debian\n  release: stable\n"
              "  architecture: amd64\npackages:\n  base: none\n  install: [app]\n",
              f);
        fclose(f);
        Profile *p = load(path, NULL);
        BuildConfig c = {};
        Diagnostics diag = {};

        assert_int_equal(build_config_load(p, "seed", &c, &diag), 0);
        assert_int_equal(c.layout_error, -EBADMSG);
        assert_non_null(c.layout_diag.messages);
        assert_int_equal(c.layout.n_partitions, 0);
        assert_null(c.root_fstype);
        assert_null(c.target_name);
        assert_string_equal(c.install[0], "app");
        build_config_done(&c);
        profile_free(p);
        unlink(path);
        rmdir(dir);
        free(path);
}

/* containers: and system.sysctl typed at load: each value with its line and the item's why:,
 * run: given empty apart from run: not given, a relative path resolved against the profile. */
static void test_containers_and_sysctl(void **state) {
        char dir[] = "/tmp/vmcompose-config-XXXXXX";
        static const char digest[] =
                "sha256:0000000000000000000000000000000000000000000000000000000000000000";
        (void)state;
        assert_non_null(mkdtemp(dir));
        _cleanup_free_ char *path = xasprintf("%s/ct.yaml", dir);
        _cleanup_free_ char *text = xasprintf(
                "name: ct\ndistro:\n  family: debian\n  release: stable\n"
                "  architecture: amd64\npackages:\n  base: none\n  install: [app]\n"
                "system:\n  sysctl:\n    - {name: net.ipv4.ip_forward, value: '1', why: route}\n"
                "containers:\n"
                "  - {name: web, path: oci/web, digest: '%s', run: [], why: the workload}\n"
                "  - {name: tools, path: /srv/tools.tar, digest: '%s', image: 'ex/tools:1'}\n",
                digest, digest);
        assert_int_equal(write_file_atomic(path, text, strlen(text), 0644), 0);
        Profile *p = load(path, NULL);
        const ProfileConfig *pc = &p->config;

        assert_int_equal(pc->system.n_sysctl, 1);
        assert_string_equal(pc->system.sysctl[0].name.value, "net.ipv4.ip_forward");
        assert_string_equal(pc->system.sysctl[0].value, "1");
        assert_string_equal(pc->system.sysctl[0].name.why, "route");
        assert_int_equal(pc->system.sysctl[0].name.mark.line, 11);
        assert_int_equal(pc->containers_mark.line, 12);
        assert_int_equal(pc->n_containers, 2);
        const ProfileContainer *web = &pc->containers[0], *tools = &pc->containers[1];
        assert_string_equal(web->name.value, "web");
        assert_string_equal(web->name.why, "the workload");
        assert_int_equal(web->mark.line, 13);
        _cleanup_free_ char *resolved = xasprintf("%s/oci/web", dir);
        assert_string_equal(web->path.value, resolved);
        assert_string_equal(web->digest.value, digest);
        assert_null(web->image.value);
        assert_true(web->run_set);
        assert_null(web->run);
        assert_string_equal(tools->path.value, "/srv/tools.tar");
        assert_string_equal(tools->image.value, "ex/tools:1");
        assert_false(tools->run_set);
        assert_null(tools->name.why);
        profile_free(p);
        assert_int_equal(rm_rf(dir), 0);
}

/* The family's boot data must list the profile's boot loader: the build stops at the profile
 * stage, naming the data file and where the profile chose the boot loader. */
static void test_boot_data_without_bootloader(void **state) {
        Profile *p = load("profiles/minimal.yaml", NULL);
        const char *env = getenv("VMCOMPOSE_DATA_DIR");
        _cleanup_free_ char *saved = env ? xstrdup(env) : NULL;
        BuildConfig c = {};
        Diagnostics diag = {};
        char dir[] = "/tmp/vmcompose-test-config-XXXXXX";
        static const char data[] = "esp-vendor-dir: debian\npackages:\n  shim: [shim-signed]\n";
        (void)state;

        assert_non_null(mkdtemp(dir));
        _cleanup_free_ char *sub = xasprintf("%s/bootloader/distro", dir);
        _cleanup_free_ char *file = xasprintf("%s/debian.yaml", sub);
        assert_int_equal(mkdir_p(sub), 0);
        assert_int_equal(write_file_atomic(file, data, strlen(data), 0644), 0);
        assert_int_equal(setenv("VMCOMPOSE_DATA_DIR", dir, 1), 0);
        int r = build_config_load(p, "seed", &c, &diag);
        assert_int_equal(r, -EBADMSG);
        assert_int_equal(
                saved ? setenv("VMCOMPOSE_DATA_DIR", saved, 1) : unsetenv("VMCOMPOSE_DATA_DIR"), 0);
        assert_int_equal(diag.n_errors, 1);
        assert_non_null(strstr(diag.messages[0],
                               "/bootloader/distro/debian.yaml: packages: the "
                               "systemd-boot boot loader (profiles/minimal.yaml:"));
        diag_done(&diag);
        assert_null(c.install);

        /* The shim boot loader listed, but not where the family's shim and GRUB are. */
        Profile *hv = load("profiles/minimal.yaml", "hyperv-gen2");
        assert_int_equal(setenv("VMCOMPOSE_DATA_DIR", dir, 1), 0);
        r = build_config_load(hv, "seed", &c, &diag);
        assert_int_equal(
                saved ? setenv("VMCOMPOSE_DATA_DIR", saved, 1) : unsetenv("VMCOMPOSE_DATA_DIR"), 0);
        assert_int_equal(r, -EBADMSG);
        assert_int_equal(diag.n_errors, 1);
        assert_non_null(strstr(diag.messages[0],
                               "/bootloader/distro/debian.yaml: shim: the shim "
                               "boot loader (profiles/targets/hyperv-gen2.yaml:"));
        diag_done(&diag);
        profile_free(hv);
        assert_int_equal(rm_rf(dir), 0);
        profile_free(p);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_minimal),
                cmocka_unit_test(test_target),
                cmocka_unit_test(test_no_disk),
                cmocka_unit_test(test_containers_and_sysctl),
                cmocka_unit_test(test_boot_data_without_bootloader),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
