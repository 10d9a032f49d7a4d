/* SPDX-License-Identifier: MIT */
/* The kernel target's checks on texts: Kconfig states and wants, modules in an initramfs
 * listing or built in, and the module names the platform lints read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>

#include "vmcompose/bootloader.h"

static const char config[] = "#\n# Automatically generated file; DO NOT EDIT.\n#\n"
                             "CONFIG_HYPERV=m\nCONFIG_HYPERV_STORAGE=y\n"
                             "# CONFIG_DRM is not set\nCONFIG_HYPERV_NET=m\n";

static void test_kconfig(void **state) {
        (void)state;
        assert_int_equal(kconfig_state(config, "CONFIG_HYPERV"), 'm');
        assert_int_equal(kconfig_state(config, "CONFIG_HYPERV_STORAGE"), 'y');
        assert_int_equal(kconfig_state(config, "CONFIG_DRM"), 0);
        /* A prefix of another option is not that option. */
        assert_int_equal(kconfig_state(config, "CONFIG_HYPERV_STOR"), 0);
        assert_int_equal(kconfig_state(NULL, "CONFIG_HYPERV"), 0);

        assert_true(kconfig_meets('y', "y"));
        assert_false(kconfig_meets('m', "y"));
        assert_true(kconfig_meets('m', "m"));
        assert_false(kconfig_meets('y', "m"));
        assert_true(kconfig_meets('y', "y|m"));
        assert_true(kconfig_meets('m', "y|m"));
        assert_false(kconfig_meets(0, "y|m"));
}

static const char listing[] = "usr/lib/modules/6.1.0-1-cloud-amd64/kernel/drivers/hv/hv_vmbus.ko\n"
                              "usr/lib/modules/6.1.0-1-cloud-amd64/kernel/drivers/scsi/"
                              "hv-storvsc.ko\n"
                              "usr/lib/modules/6.1.0-1-cloud-amd64/modules.dep\n"
                              "bin/busybox";
static const char builtin[] = "kernel/fs/ext4/ext4.ko\nkernel/drivers/block/virtio_blk.ko\n";

static void test_modules(void **state) {
        (void)state;
        assert_true(kernel_has_module(listing, builtin, "hv_vmbus"));
        assert_true(kernel_has_module(listing, builtin, "hv_storvsc")); /* file hv-storvsc.ko */
        assert_true(kernel_has_module(listing, builtin, "virtio_blk")); /* built in */
        assert_true(kernel_has_module(NULL, builtin, "ext4"));
        assert_false(kernel_has_module(listing, builtin, "hv_netvsc"));
        assert_false(kernel_has_module(NULL, NULL, "hv_vmbus"));

        char **names = kernel_module_names(listing, builtin);
        assert_non_null(names);
        assert_string_equal(names[0], "hv_vmbus");
        assert_string_equal(names[1], "hv_storvsc");
        assert_string_equal(names[2], "ext4");
        assert_string_equal(names[3], "virtio_blk");
        assert_null(names[4]);
        strv_free(names);
        assert_null(kernel_module_names(NULL, NULL));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_kconfig),
                cmocka_unit_test(test_modules),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
