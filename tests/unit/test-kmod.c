/* SPDX-License-Identifier: MIT */
/* The kernel module index (composer/bootloader/kmod.c): modules.dep, modules.softdep,
 * modules.alias and modules.builtin as depmod writes them, and the closure that
 * kernel.modules: target keeps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "vmcompose/kmod.h"

/* A small kernel shaped like Debian's cloud kernel: ext4 with its softdep on crc32c (an alias
 * of crc32c_generic), virtio_net needing net_failover needing failover, a driver nobody wants,
 * and a module whose file name has a '-'. */
static const char dep[] = "kernel/fs/ext4/ext4.ko: kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko "
                          "kernel/lib/crc16.ko\n"
                          "kernel/fs/mbcache.ko:\n"
                          "kernel/fs/jbd2/jbd2.ko:\n"
                          "kernel/lib/crc16.ko:\n"
                          "kernel/crypto/crc32c_generic.ko:\n"
                          "kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko "
                          "kernel/net/core/failover.ko\n"
                          "kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko\n"
                          "kernel/net/core/failover.ko:\n"
                          "kernel/drivers/gpu/drm/nouveau/nouveau.ko: kernel/drivers/gpu/drm/"
                          "drm.ko\n"
                          "kernel/drivers/gpu/drm/drm.ko:\n"
                          "kernel/drivers/hid/hid-hyperv.ko:\n"
                          "kernel/fs/nls/nls_ascii.ko.xz:\n";
static const char softdep[] = "# Soft dependencies extracted from modules themselves.\n"
                              "softdep ext4 pre: crc32c\n"
                              "softdep virtio_net post: missing_in_this_kernel\n";
static const char alias[] = "# Aliases extracted from modules themselves.\n"
                            "alias crc32c crc32c_generic\n"
                            "alias pci:v00001AF4d00001000sv*sd*bc*sc*i* virtio_net\n";
static const char builtin[] = "kernel/drivers/virtio/virtio_pci.ko\n"
                              "kernel/drivers/block/virtio_blk.ko\n";

static void test_parse(void **state) {
        (void)state;
        KernelModules m = {};
        kmod_parse_dep(dep, &m);
        assert_int_equal(m.n, 12);
        KernelModule *e = kmod_find(&m, "ext4");
        assert_non_null(e);
        assert_string_equal(e->path, "kernel/fs/ext4/ext4.ko");
        assert_int_equal(strv_length(e->deps), 3);
        assert_string_equal(e->deps[1], "kernel/fs/jbd2/jbd2.ko");
        /* '-' and '_' name the same module; a compressed module's name stops at the first '.'. */
        assert_non_null(kmod_find(&m, "hid_hyperv"));
        assert_non_null(kmod_find(&m, "hid-hyperv"));
        assert_string_equal(kmod_find(&m, "nls_ascii")->path, "kernel/fs/nls/nls_ascii.ko.xz");
        assert_null(kmod_find(&m, "virtio_blk"));
        assert_true(kmod_is_builtin(builtin, "virtio_blk"));
        assert_true(kmod_is_builtin(builtin, "virtio-pci"));
        assert_false(kmod_is_builtin(builtin, "virtio"));
        assert_false(kmod_is_builtin(NULL, "virtio_blk"));
        /* A soft dependency through an exact alias. */
        char **pre = kmod_softdeps(softdep, "ext4", "pre:");
        assert_int_equal(strv_length(pre), 1);
        assert_string_equal(kmod_softdep_target(&m, alias, pre[0])->name, "crc32c_generic");
        assert_null(kmod_softdep_target(&m, alias, "missing_in_this_kernel"));
        strv_free(pre);
        kmod_done(&m);
        assert_int_equal(m.n, 0);
}

static void test_closure(void **state) {
        (void)state;
        KernelModules m = {};
        kmod_parse_dep(dep, &m);
        char *wanted[] = {(char *)"ext4",       (char *)"virtio-net", (char *)"virtio_blk",
                          (char *)"no_such_fs", (char *)"ext4",       NULL};
        char **keep = NULL, **missing = NULL;
        int n = kmod_closure(&m, softdep, alias, builtin, wanted, &keep, &missing);
        /* ext4, its three dependencies and its softdep; virtio_net and its two. */
        assert_int_equal(n, 8);
        assert_int_equal(strv_length(keep), 8);
        const char *expect[] = {"kernel/crypto/crc32c_generic.ko",
                                "kernel/drivers/net/net_failover.ko",
                                "kernel/drivers/net/virtio_net.ko",
                                "kernel/fs/ext4/ext4.ko",
                                "kernel/fs/jbd2/jbd2.ko",
                                "kernel/fs/mbcache.ko",
                                "kernel/lib/crc16.ko",
                                "kernel/net/core/failover.ko"};
        for (size_t i = 0; i < ELEMENTSOF(expect); i++)
                assert_string_equal(keep[i], expect[i]);
        assert_false(strv_contains(keep, "kernel/drivers/gpu/drm/drm.ko"));
        /* Built-in virtio_blk is not missing; the unknown name is, once. */
        assert_int_equal(strv_length(missing), 1);
        assert_string_equal(missing[0], "no_such_fs");
        for (size_t i = 0; i < m.n; i++)
                assert_int_equal(m.m[i].state, 0);
        strv_free(keep);
        strv_free(missing);

        /* Nothing wanted: nothing kept. */
        n = kmod_closure(&m, softdep, alias, builtin, NULL, &keep, &missing);
        assert_int_equal(n, 0);
        assert_null(keep);
        assert_null(missing);
        kmod_done(&m);

        /* modules.dep naming a dependency it does not list is a broken index. */
        kmod_parse_dep("kernel/a.ko: kernel/b.ko\n", &m);
        char *a[] = {(char *)"a", NULL};
        assert_int_equal(kmod_closure(&m, NULL, NULL, NULL, a, &keep, &missing), -EBADMSG);
        kmod_done(&m);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse),
                cmocka_unit_test(test_closure),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
