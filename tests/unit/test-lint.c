/* SPDX-License-Identifier: MIT */
/* The Azure lint on a small root, layout and outputs made here: every rule it checks fails
 * when broken, and a conforming image passes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../composer/pipeline/stages.h"
#include "vmcompose/output.h"

static char dir[] = "/tmp/vmcompose-lint-XXXXXX";

static void put(const char *rel, const char *text) {
        char *path = xasprintf("%s/%s", dir, rel);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
        free(path);
}

static bool mentions(char **problems, const char *what) {
        for (char **p = problems; p && *p; p++)
                if (strstr(*p, what))
                        return true;
        return false;
}

/* A kernel in root shaped like Debian's cloud kernel, with the Hyper-V drivers as modules
 * (hv_storvsc built in). */
static void make_kernel(const char *root) {
        char *cmd = xasprintf("mkdir -p %s/lib/modules/6.1.0-1-cloud-amd64/kernel/drivers/hv "
                              "%s/lib/modules/6.1.0-1-cloud-amd64/kernel/drivers/net/hyperv",
                              root, root);
        assert_int_equal(system(cmd), 0);
        free(cmd);
        /* put() takes paths under dir, where root is dir/root. */
        const char *d = "root/lib/modules/6.1.0-1-cloud-amd64";
        char *p = xasprintf("%s/modules.dep", d);
        put(p, "kernel/drivers/hv/hv_vmbus.ko:\n"
               "kernel/drivers/hv/hv_utils.ko: kernel/drivers/hv/hv_vmbus.ko\n"
               "kernel/drivers/net/hyperv/hv_netvsc.ko: kernel/drivers/hv/hv_vmbus.ko\n");
        free(p);
        p = xasprintf("%s/modules.builtin", d);
        put(p, "kernel/drivers/scsi/hv_storvsc.ko\n");
        free(p);
        const char *const files[] = {"kernel/drivers/hv/hv_vmbus.ko",
                                     "kernel/drivers/hv/hv_utils.ko",
                                     "kernel/drivers/net/hyperv/hv_netvsc.ko"};
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                p = xasprintf("%s/%s", d, files[i]);
                put(p, "\177ELF");
                free(p);
        }
}

static void test_azure(void **state) {
        (void)state;
        assert_non_null(mkdtemp(dir));
        char *root = xasprintf("%s/root", dir);
        assert_int_equal(mkdir(root, 0755), 0);
        char *etc = xasprintf("%s/etc", root), *ssh = xasprintf("%s/etc/ssh", root);
        assert_int_equal(mkdir(etc, 0755), 0);
        assert_int_equal(mkdir(ssh, 0755), 0);

        /* A conforming image: a fixed VHD written by the VHD writer, the drivers, the command
         * line, one agent, no swap, an empty machine-id, no host keys. */
        put("disk.raw", "");
        char *raw = xasprintf("%s/disk.raw", dir), *vhd = xasprintf("%s/good.vhd", dir);
        assert_int_equal(truncate(raw, 2 << 20), 0);
        int fd = open(raw, O_RDONLY);
        OutputOptions o = {.timestamp = 1700000000};
        assert_int_equal(output_write_file(output_format_find("vhd"), fd, 2 << 20, vhd, &o), 0);
        close(fd);
        put("root/etc/machine-id", "");
        make_kernel(root);
        char *outputs[] = {vhd, NULL};
        char *modules[] = {(char *)"hv_vmbus", (char *)"hv_storvsc", (char *)"hv_netvsc",
                           (char *)"hv_utils", NULL};
        char *packages[] = {(char *)"bash", (char *)"cloud-init", NULL};
        Partition parts[] = {{.role = ROLE_ESP}, {.role = ROLE_ROOT}};
        DiskLayout layout = {.partitions = parts, .n_partitions = 2};
        int root_fd = open(root, O_RDONLY | O_DIRECTORY);
        LintFacts f = {
                .outputs = outputs,
                .initramfs_modules = modules,
                .cmdline = "root=PARTUUID=x console=ttyS0 earlyprintk=ttyS0 rootdelay=300",
                .packages = packages,
                .layout = &layout,
                .root_fd = root_fd,
                .kernel_version = "6.1.0-1-cloud-amd64",
        };
        char **problems = NULL;
        assert_true(lint_azure(&f, &problems) >= 14);
        assert_null(problems);

        /* Now break every rule. */
        /* A VHD whose footer was changed after its checksum was computed, and a file that
         * has a .vhd name but no footer. */
        char *bad_vhd = xasprintf("%s/bad.vhd", dir), *fake_vhd = xasprintf("%s/fake.vhd", dir);
        char *cp =
                xasprintf("cp %s %s && printf X | dd of=%s bs=1 seek=%d conv=notrunc status=none",
                          vhd, bad_vhd, bad_vhd, (2 << 20) + 30);
        assert_int_equal(system(cp), 0);
        free(cp);
        put("fake.vhd", "not a VHD footer at all");
        char *outputs2[] = {bad_vhd, fake_vhd, NULL};
        char *modules2[] = {(char *)"hv_vmbus", NULL};
        char *packages2[] = {(char *)"cloud-init", (char *)"waagent", NULL};
        Partition parts2[] = {{.role = ROLE_ROOT},
                              {.role = ROLE_SWAP, .where = (char *)"p.yaml:9:7"}};
        DiskLayout layout2 = {.partitions = parts2, .n_partitions = 2};
        /* The root's kernel lost hv_netvsc's file (kernel.modules), and modules.dep forgets
         * hv_utils. */
        char *netvsc = xasprintf("%s/lib/modules/6.1.0-1-cloud-amd64/kernel/drivers/net/"
                                 "hyperv/hv_netvsc.ko",
                                 root);
        assert_int_equal(unlink(netvsc), 0);
        free(netvsc);
        put("root/lib/modules/6.1.0-1-cloud-amd64/modules.dep", "kernel/drivers/hv/hv_vmbus.ko:\n");
        put("root/etc/machine-id", "0123456789abcdef0123456789abcdef\n");
        put("root/etc/ssh/ssh_host_ed25519_key", "secret");
        f = (LintFacts){
                .outputs = outputs2,
                .initramfs_modules = modules2,
                .cmdline = "root=PARTUUID=x console=ttyS0 quiet",
                .packages = packages2,
                .layout = &layout2,
                .root_fd = root_fd,
                .kernel_version = "6.1.0-1-cloud-amd64",
        };
        lint_azure(&f, &problems);
        assert_true(mentions(problems, "bad.vhd is not a valid Azure VHD: "));
        assert_true(mentions(problems, "fake.vhd is not a VHD"));
        assert_true(mentions(problems, "lacks hv_storvsc"));
        assert_true(mentions(problems, "lacks hv_netvsc"));
        assert_true(mentions(problems, "kernel 6.1.0-1-cloud-amd64 lacks hv_netvsc"));
        assert_true(mentions(problems, "kernel 6.1.0-1-cloud-amd64 lacks hv_utils"));
        assert_false(mentions(problems, "kernel 6.1.0-1-cloud-amd64 lacks hv_vmbus"));
        /* hv_storvsc is built into this kernel. */
        assert_false(mentions(problems, "kernel 6.1.0-1-cloud-amd64 lacks hv_storvsc"));
        assert_true(mentions(problems, "lacks earlyprintk=ttyS0"));
        assert_true(mentions(problems, "lacks rootdelay=300"));
        assert_true(mentions(problems, "carries quiet"));
        assert_true(mentions(problems, "2 provisioning agents"));
        assert_true(mentions(problems, "swap partition (p.yaml:9:7)"));
        assert_true(mentions(problems, "machine-id is not empty"));
        assert_true(mentions(problems, "ssh_host_ed25519_key"));
        strv_free(problems);
        problems = NULL;

        /* No VHD at all. */
        char *none[] = {raw, NULL};
        f.outputs = none;
        lint_azure(&f, &problems);
        assert_true(mentions(problems, "no fixed VHD among the outputs"));
        strv_free(problems);

        close(root_fd);
        char *cmd = xasprintf("rm -rf %s", dir);
        assert_int_equal(system(cmd), 0);
        free(cmd);
        free(root), free(etc), free(ssh), free(raw), free(vhd), free(bad_vhd), free(fake_vhd);
}

/* Hyper-V's lint: the drivers in the initramfs and in the root, through the platform table. */
static void test_hyperv(void **state) {
        (void)state;
        strcpy(dir, "/tmp/vmcompose-lint-XXXXXX");
        assert_non_null(mkdtemp(dir));
        char *root = xasprintf("%s/root", dir);
        assert_int_equal(mkdir(root, 0755), 0);
        make_kernel(root);
        const LintPlatform *hv = lint_platform_find("hyperv");
        assert_non_null(hv);
        char *modules[] = {(char *)"hv_vmbus", (char *)"hv_storvsc", (char *)"hv_netvsc",
                           (char *)"hv_utils", NULL};
        int root_fd = open(root, O_RDONLY | O_DIRECTORY);
        LintFacts f = {.initramfs_modules = modules,
                       .root_fd = root_fd,
                       .kernel_version = "6.1.0-1-cloud-amd64"};
        char **problems = NULL;
        assert_int_equal(hv->run(&f, &problems), 8);
        assert_null(problems);

        /* kernel.modules removed a driver: the lint fails and names it. */
        char *utils =
                xasprintf("%s/lib/modules/6.1.0-1-cloud-amd64/kernel/drivers/hv/hv_utils.ko", root);
        assert_int_equal(unlink(utils), 0);
        hv->run(&f, &problems);
        assert_int_equal(strv_length(problems), 1);
        assert_true(mentions(problems, "kernel 6.1.0-1-cloud-amd64 lacks hv_utils"));
        strv_free(problems);

        close(root_fd);
        char *cmd = xasprintf("rm -rf %s", dir);
        assert_int_equal(system(cmd), 0);
        free(cmd);
        free(root), free(utils);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_azure),
                cmocka_unit_test(test_hyperv),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
