/* SPDX-License-Identifier: MIT */
/* The platform lints (moved from composer/pipeline/stage-lint.c): the rules of the cloud an
 * image is for that can be checked offline, on the finished outputs and root, one row per
 * platform. Azure: a fixed VHD aligned to 1 MiB with a valid footer, the Hyper-V drivers in the
 * initramfs, Azure's kernel command line, exactly one provisioning agent, no swap partition,
 * an empty machine-id and no SSH host keys baked in. */
#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmcompose/lint.h"
#include "vmcompose/log.h"
#include "vmcompose/output.h"
#include "vmcompose/rootfs.h"

static bool has_arg(const char *cmdline, const char *arg) {
        size_t l = strlen(arg);
        for (const char *p = cmdline; p && (p = strstr(p, arg)); p += l)
                if ((p == cmdline || p[-1] == ' ') && (p[l] == 0 || p[l] == ' '))
                        return true;
        return false;
}

#define problem(l, ...) strv_push((l), xasprintf(__VA_ARGS__))

unsigned lint_azure(const LintFacts *f, char ***problems) {
        unsigned checks = 0;

        /* Outputs: Azure takes fixed VHDs only, their size a whole number of MiB. */
        checks++;
        size_t vhds = 0;
        for (char **o = f->outputs; o && *o; o++) {
                size_t len = strlen(*o);
                if (len < 4 || !streq(*o + len - 4, ".vhd"))
                        continue;
                vhds++;
                Buffer out = {};
                int r = output_inspect(*o, &out);
                /* Content of another format (or none) under a .vhd name: no footer. */
                bool other = out.data && strstr(out.data, "  format: ") &&
                             !strstr(out.data, "  format: vhd\n");
                if (other)
                        problem(problems, "%s is not a VHD (no VHD footer)", *o);
                else if (r < 0) {
                        const char *why = out.data ? strstr(out.data, "error: ") : NULL;
                        problem(problems, "%s is not a valid Azure VHD: %.*s", *o,
                                why ? (int)strcspn(why + 7, "\n") : 10,
                                why ? why + 7 : "unreadable");
                }
                buffer_done(&out);
        }
        if (vhds == 0)
                problem(problems, "no fixed VHD among the outputs (outputs: [vhd])");

        /* The Hyper-V drivers Azure's storage and network need, in the initramfs. */
        static const char *const drivers[] = {"hv_vmbus", "hv_storvsc", "hv_netvsc", "hv_utils"};
        for (size_t i = 0; i < ELEMENTSOF(drivers) && f->initramfs_modules; i++) {
                checks++;
                if (!strv_contains(f->initramfs_modules, drivers[i]))
                        problem(problems, "the initramfs lacks %s", drivers[i]);
        }
        /* And every driver the kernel target lists for the architecture (Azure's Arm VMs:
         * NVMe), '-' and '_' alike. */
        for (char **d = f->target_drivers; d && *d && f->initramfs_modules; d++) {
                bool listed = false;
                for (size_t i = 0; i < ELEMENTSOF(drivers); i++)
                        listed = listed || streq(drivers[i], *d);
                if (listed)
                        continue;
                checks++;
                _cleanup_free_ char *u = xstrdup(*d);
                for (char *c = u; *c; c++)
                        if (*c == '-')
                                *c = '_';
                if (!strv_contains(f->initramfs_modules, u))
                        problem(problems, "the initramfs lacks %s (the kernel target's)", *d);
        }

        /* Azure's documented command line: the serial console, early output, a long wait for
         * the root disk; and no "quiet", which hides what the serial console log should show. */
        const Arch *a = f->arch ?: arch_find("amd64");
        _cleanup_free_ char *console = xasprintf("console=%s", a->serial_console);
        const char *args[] = {console, a->early_console, "rootdelay=300"};
        for (size_t i = 0; i < ELEMENTSOF(args) && f->cmdline; i++) {
                if (!args[i])
                        continue;
                checks++;
                if (!has_arg(f->cmdline, args[i]))
                        problem(problems, "the kernel command line lacks %s", args[i]);
        }
        if (f->cmdline) {
                checks++;
                if (has_arg(f->cmdline, "quiet"))
                        problem(problems, "the kernel command line carries quiet");
        }

        /* Exactly one provisioning agent: two fight over the VM; none never reports ready. */
        if (f->packages) {
                checks++;
                static const char *const agents[] = {"cloud-init", "waagent", "walinuxagent"};
                size_t n = 0;
                for (size_t i = 0; i < ELEMENTSOF(agents); i++)
                        n += strv_contains(f->packages, agents[i]);
                if (n != 1)
                        problem(problems,
                                "%zu provisioning agents (cloud-init, waagent): Azure needs "
                                "exactly one",
                                n);
        }

        /* Azure provides its own resource disk for swap. */
        checks++;
        for (size_t i = 0; f->layout && i < f->layout->n_partitions; i++)
                if (f->layout->partitions[i].role == ROLE_SWAP)
                        problem(problems, "a swap partition (%s): Azure images have none",
                                f->layout->partitions[i].where);

        if (f->root_fd < 0)
                return checks;
        /* First boot makes the VM's own identity: an empty machine-id, no SSH host keys. */
        checks++;
        _cleanup_close_ int mid = root_open(f->root_fd, "etc/machine-id", O_PATH, 0);
        struct stat st;
        if (mid < 0)
                problem(problems, "/etc/machine-id is missing (systemd expects it, empty)");
        else if (fstat(mid, &st) == 0 && st.st_size != 0)
                problem(problems, "/etc/machine-id is not empty: every VM would share it");
        checks++;
        int sfd = root_open(f->root_fd, "etc/ssh", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
        DIR *d = sfd >= 0 ? fdopendir(sfd) : NULL;
        if (!d && sfd >= 0)
                close(sfd);
        for (struct dirent *de; d && (de = readdir(d));)
                if (strneq(de->d_name, "ssh_host_", 9) && strstr(de->d_name, "_key"))
                        problem(problems, "/etc/ssh/%s: an SSH host key baked into the image",
                                de->d_name);
        if (d)
                closedir(d);
        return checks;
}

static const LintPlatform platforms[] = {
        {"azure", "Azure", "VHD, drivers, command line, agent, swap, machine-id, SSH host keys",
         lint_azure},
};

const LintPlatform *lint_platform_find(const char *target) {
        for (size_t i = 0; target && i < ELEMENTSOF(platforms); i++)
                if (streq(platforms[i].target, target))
                        return &platforms[i];
        return NULL;
}
