/* SPDX-License-Identifier: MIT */
/* The platform lints (moved from composer/pipeline/stage-lint.c): the rules of the cloud an
 * image is for that can be checked offline, on the finished outputs and root, one row per
 * platform. Azure: a fixed VHD aligned to 1 MiB with a valid footer, the Hyper-V drivers in the
 * initramfs and the root, Azure's kernel command line, exactly one provisioning agent, no swap
 * partition, an empty machine-id and no SSH host keys baked in. Hyper-V: its drivers. */
#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmcompose/kmod.h"
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

/* The Hyper-V drivers the storage and network of Azure and Hyper-V need. */
static const char *const hv_drivers[] = {"hv_vmbus", "hv_storvsc", "hv_netvsc", "hv_utils"};

/* Whether the root's kernel has the module name: built in (modules.builtin), or listed in
 * modules.dep with its file present (kernel.modules: target removes files, and depmod then
 * forgets them). */
static bool root_has_module(int root_fd, const char *version, const char *builtin,
                            const KernelModules *mods, const char *name) {
        if (kmod_is_builtin(builtin, name))
                return true;
        const KernelModule *m = kmod_find(mods, name);
        if (!m)
                return false;
        _cleanup_free_ char *path = xasprintf("lib/modules/%s/%s", version, m->path);
        _cleanup_close_ int fd = root_open(root_fd, path, O_PATH, 0);
        return fd >= 0;
}

/* Every driver in the initramfs and, after kernel.modules, in the root: the initramfs finds
 * the disk, the root's copy serves udev after a device comes back (a NIC hot-added by Azure's
 * accelerated networking, a rescan) and the next initramfs the VM makes. */
static unsigned check_drivers(const LintFacts *f, const char *const *drivers, size_t n,
                              char ***problems) {
        unsigned checks = 0;
        for (size_t i = 0; i < n && f->initramfs_modules; i++) {
                checks++;
                if (!strv_contains(f->initramfs_modules, drivers[i]))
                        problem(problems, "the initramfs lacks %s", drivers[i]);
        }
        if (f->root_fd < 0 || !f->kernel_version)
                return checks;
        _cleanup_free_ char *dep_path = xasprintf("lib/modules/%s/modules.dep", f->kernel_version);
        _cleanup_free_ char *builtin_path =
                xasprintf("lib/modules/%s/modules.builtin", f->kernel_version);
        _cleanup_free_ char *deps = NULL, *builtin = NULL;
        (void)root_read_file(f->root_fd, dep_path, 64 << 20, &deps, NULL);
        (void)root_read_file(f->root_fd, builtin_path, 64 << 20, &builtin, NULL);
        _cleanup_(kmod_done) KernelModules mods = {};
        kmod_parse_dep(deps, &mods);
        for (size_t i = 0; i < n; i++) {
                checks++;
                if (!root_has_module(f->root_fd, f->kernel_version, builtin, &mods, drivers[i]))
                        problem(problems,
                                "the root's kernel %s lacks %s (not built in, no module file "
                                "in /lib/modules; kernel.modules removed it?)",
                                f->kernel_version, drivers[i]);
        }
        return checks;
}

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

        /* The Hyper-V drivers Azure's storage and network need. */
        checks += check_drivers(f, hv_drivers, ELEMENTSOF(hv_drivers), problems);
        /* And every driver the kernel target lists for the architecture (Azure's Arm VMs:
         * NVMe), '-' and '_' alike, in the initramfs. */
        for (char **d = f->target_drivers; d && *d && f->initramfs_modules; d++) {
                bool listed = false;
                for (size_t i = 0; i < ELEMENTSOF(hv_drivers); i++)
                        listed = listed || streq(hv_drivers[i], *d);
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

unsigned lint_hyperv(const LintFacts *f, char ***problems) {
        return check_drivers(f, hv_drivers, ELEMENTSOF(hv_drivers), problems);
}

static const LintPlatform platforms[] = {
        {"azure", "Azure", "VHD, drivers, command line, agent, swap, machine-id, SSH host keys",
         lint_azure},
        {"hyperv", "Hyper-V", "drivers in the initramfs and the root", lint_hyperv},
};

const LintPlatform *lint_platform_find(const char *target) {
        for (size_t i = 0; target && i < ELEMENTSOF(platforms); i++)
                if (streq(platforms[i].target, target))
                        return &platforms[i];
        return NULL;
}
