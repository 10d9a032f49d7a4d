/* SPDX-License-Identifier: MIT */
/* QEMU, firmware, serial console, timeout. QEMU is always stopped by its PID. */
#include <fcntl.h>
#include <linux/kvm.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "vmcompose/boottest.h"
#include "vmcompose/log.h"
#include "vmcompose/signals.h"
#include "vmcompose/sparse.h"
#include "vmcompose/spawn.h"

static const char *const firmware_names[_BOOT_FIRMWARE_MAX] = {"bios", "uefi", "secureboot"};
static const char *const accel_names[_BOOT_ACCEL_MAX] = {"auto", "kvm", "tcg"};

const char *boot_firmware_to_string(BootFirmware f) {
        return f >= 0 && f < _BOOT_FIRMWARE_MAX ? firmware_names[f] : NULL;
}

BootFirmware boot_firmware_from_string(const char *s) {
        for (int i = 0; i < _BOOT_FIRMWARE_MAX; i++)
                if (streq(firmware_names[i], s))
                        return (BootFirmware)i;
        return _BOOT_FIRMWARE_INVALID;
}

const char *boot_accel_to_string(BootAccel a) {
        return a >= 0 && a < _BOOT_ACCEL_MAX ? accel_names[a] : NULL;
}

BootAccel boot_accel_from_string(const char *s) {
        for (int i = 0; i < _BOOT_ACCEL_MAX; i++)
                if (streq(accel_names[i], s))
                        return (BootAccel)i;
        return _BOOT_ACCEL_INVALID;
}

bool boot_kvm_usable(void) {
        _cleanup_close_ int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
        if (fd < 0 || ioctl(fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION)
                return false;
        _cleanup_close_ int vm = ioctl(fd, KVM_CREATE_VM, 0);
        return vm >= 0;
}

int boot_detect_format(const char *path, const char **ret) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        char head[8], foot[8];
        struct stat st;

        if (fd < 0 || fstat(fd, &st) < 0)
                return -errno;
        if (st.st_size >= 8 && pread_all(fd, head, 8, 0) == 0) {
                if (memcmp(head, "QFI\xfb", 4) == 0) {
                        *ret = "qcow2";
                        return 0;
                }
                if (memcmp(head, "vhdxfile", 8) == 0) {
                        *ret = "vhdx";
                        return 0;
                }
        }
        if (st.st_size >= 512 && pread_all(fd, foot, 8, (uint64_t)st.st_size - 512) == 0 &&
            memcmp(foot, "conectix", 8) == 0) {
                *ret = "vpc";
                return 0;
        }
        *ret = "raw";
        return 0;
}

void boot_result_done(BootResult *r) {
        free(r->tail);
        r->tail = NULL;
}

static double now(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The image's architecture: the option's, else the host's. */
static const Arch *boot_arch(const BootOptions *o) {
        return o->arch ?: arch_host() ?: arch_find("amd64");
}

typedef struct Qemu {
        pid_t pid;
        int out_fd, err_fd;
} Qemu;

static void qemu_stop(Qemu *q) {
        if (q->pid > 0) {
                (void)kill(q->pid, SIGKILL);
                while (waitpid(q->pid, NULL, 0) < 0 && errno == EINTR)
                        ;
                q->pid = 0;
        }
        if (q->out_fd >= 0)
                close(q->out_fd);
        if (q->err_fd >= 0)
                close(q->err_fd);
        q->out_fd = q->err_fd = -1;
}

static int qemu_start(char *const argv[], Qemu *q) {
        int out[2], err[2];

        if (pipe2(out, O_CLOEXEC) < 0)
                return -errno;
        if (pipe2(err, O_CLOEXEC) < 0) {
                int r = -errno;
                close(out[0]);
                close(out[1]);
                return r;
        }
        pid_t pid = fork();
        if (pid < 0) {
                int r = -errno;
                close(out[0]);
                close(out[1]);
                close(err[0]);
                close(err[1]);
                return r;
        }
        if (pid == 0) {
                int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
                if (devnull < 0 || dup2(devnull, STDIN_FILENO) < 0 ||
                    dup2(out[1], STDOUT_FILENO) < 0 || dup2(err[1], STDERR_FILENO) < 0)
                        _exit(127);
                /* Our own process group: a Ctrl-C reaches us, and we stop QEMU ourselves. */
                setpgid(0, 0);
                execvp(argv[0], argv);
                _exit(127);
        }
        close(out[1]);
        close(err[1]);
        *q = (Qemu){.pid = pid, .out_fd = out[0], .err_fd = err[0]};
        return 0;
}

static int build_argv(const BootOptions *o, const char *format, bool kvm, const char *vars,
                      char ***ret) {
        char **a = NULL;
        BootFirmware fw = o->firmware;
        const Arch *arch = boot_arch(o);

        if (fw == BOOT_FIRMWARE_BIOS && !arch->bios)
                return log_error_errno(EINVAL, "boot: %s machines have no BIOS firmware",
                                       arch->name);
        strv_extend(&a, arch->qemu_system);
        strv_extend(&a, "-accel");
        strv_extend(&a, kvm ? "kvm" : "tcg");
        strv_extend(&a, "-machine");
        strv_extend(&a, fw == BOOT_FIRMWARE_SECUREBOOT ? arch->qemu_machine_secureboot
                                                       : arch->qemu_machine);
        if (arch->qemu_cpu) {
                strv_extend(&a, "-cpu");
                strv_extend(&a, kvm ? "host" : arch->qemu_cpu);
        }
        strv_extend(&a, "-m");
        strv_push(&a,
                  xasprintf("%llu", (unsigned long long)(o->memory_mib ? o->memory_mib : 1024)));
        /* virtio-rng-pci, as libvirt gives every guest: the host's entropy seeds the guest's
         * CRNG at once; without it (and without RDRAND, which TCG's default CPU lacks) the
         * kernel waits seconds for jitter entropy, and so does everything that asks for random
         * bytes at boot (systemd-random-seed, systemd-networkd). */
        static const char *const common[] = {
                "-smp", "2",    "-display", "none",           "-monitor",  "none",
                "-nic", "none", "-device",  "virtio-rng-pci", "-no-reboot"};
        for (size_t i = 0; i < ELEMENTSOF(common); i++)
                strv_extend(&a, common[i]);
        if (fw == BOOT_FIRMWARE_BIOS) {
                /* SeaBIOS writes its messages ("No bootable device.") only to the screen and
                 * its debug port: put the debug port on the serial console's stream. */
                static const char *const bios[] = {
                        "-chardev", "stdio,id=console,mux=on",
                        "-serial",  "chardev:console",
                        "-device",  "isa-debugcon,iobase=0x402,chardev=console"};
                for (size_t i = 0; i < ELEMENTSOF(bios); i++)
                        strv_extend(&a, bios[i]);
        } else {
                strv_extend(&a, "-serial");
                strv_extend(&a, "stdio");
        }
        if (fw != BOOT_FIRMWARE_BIOS) {
                const char *code = fw == BOOT_FIRMWARE_SECUREBOOT ? arch->firmware_code_secureboot
                                                                  : arch->firmware_code;
                if (access(code, R_OK) < 0) {
                        strv_free(a);
                        return log_error_errno(ENOENT, "boot: %s is missing (install %s)", code,
                                               arch->firmware_package);
                }
                if (fw == BOOT_FIRMWARE_SECUREBOOT && arch->qemu_pflash_secure) {
                        strv_extend(&a, "-global");
                        strv_extend(&a, "driver=cfi.pflash01,property=secure,value=on");
                }
                strv_extend(&a, "-drive");
                strv_push(&a, xasprintf("if=pflash,format=raw,unit=0,readonly=on,file=%s", code));
                strv_extend(&a, "-drive");
                strv_push(&a, xasprintf("if=pflash,format=raw,unit=1,file=%s", vars));
        }
        strv_extend(&a, "-drive");
        strv_push(&a, xasprintf("if=virtio,format=%s,file=%s,cache=unsafe", format, o->image));
        if (o->disk) {
                strv_extend(&a, "-drive");
                strv_push(&a, xasprintf("if=virtio,format=raw,readonly=on,file=%s", o->disk));
        }
        if (!o->write)
                strv_extend(&a, "-snapshot");
        *ret = a;
        return 0;
}

/* What QEMU says when KVM exists but cannot run this guest: an internal error or emulation
 * failure at the first instructions, or an MSR the host refuses (an assertion in kvm.c). */
static const char *kvm_broken(const char *err) {
        static const char *const signs[] = {"KVM internal error",
                                            "emulation failure",
                                            "failed to initialize kvm",
                                            "kvm.c:",
                                            "KVM_RUN failed",
                                            "failed to set MSR",
                                            "System Management Mode not supported"};
        for (size_t i = 0; i < ELEMENTSOF(signs); i++)
                if (strcasestr(err, signs[i]))
                        return signs[i];
        return NULL;
}

/* One boot attempt. *ret_kvm_failed: QEMU said KVM cannot run this guest. */
static int boot_once(const BootOptions *o, const char *format, bool kvm, const char *tmp,
                     BootResult *res, bool *ret_kvm_failed) {
        _cleanup_strv_free_ char **argv = NULL;
        _cleanup_free_ char *vars = path_join(tmp, "OVMF_VARS.fd");
        _cleanup_close_ int log_fd = -1;
        BootWatch w;
        Buffer err = {};
        Qemu q = {.out_fd = -1, .err_fd = -1};
        int r;

        *ret_kvm_failed = false;
        if (o->firmware != BOOT_FIRMWARE_BIOS) {
                const Arch *arch = boot_arch(o);
                const char *tmpl = o->firmware == BOOT_FIRMWARE_SECUREBOOT
                                           ? arch->firmware_vars_secureboot
                                           : arch->firmware_vars;
                r = copy_file(tmpl, vars, 0600); /* fresh variables: a first boot */
                if (r < 0)
                        return log_error_errno(r, "boot: cannot copy %s: %m", tmpl);
        }
        r = build_argv(o, format, kvm, vars, &argv);
        if (r < 0)
                return r;
        if (o->serial_log) {
                log_fd = open(o->serial_log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
                if (log_fd < 0)
                        return log_error_errno(errno, "boot: cannot write %s: %m", o->serial_log);
        }
        r = boot_watch_init(&w, o->expect, NULL);
        if (r < 0)
                return r;
        if (log_debug_enabled("boot")) {
                _cleanup_free_ char *cmd = spawn_format(argv);
                log_debug_sub("boot", "%s", cmd);
        }

        double start = now(), deadline = start + (o->timeout_sec ? o->timeout_sec : 300);
        res->time_to_kernel = res->time_to_ready = -1;
        res->outcome = BOOT_EVENT_NONE;
        r = qemu_start(argv, &q);
        if (r < 0) {
                boot_watch_done(&w);
                return log_error_errno(r, "boot: cannot start %s: %m", argv[0]);
        }

        r = -ETIMEDOUT;
        bool out_open = true, err_open = true;
        while (out_open || err_open) {
                if (signals_interrupted()) {
                        r = -EINTR;
                        break;
                }
                double left = deadline - now();
                if (left <= 0)
                        break;
                /* Under KVM a kernel prints within seconds; silence for a minute means a
                 * KVM that hangs instead of failing: let auto fall back to TCG. */
                if (kvm && res->time_to_kernel < 0 && now() - start > 60) {
                        res->kvm_error = "no kernel output after 60 s under KVM";
                        *ret_kvm_failed = true;
                        r = -ENXIO;
                        break;
                }
                struct pollfd p[2] = {{.fd = out_open ? q.out_fd : -1, .events = POLLIN},
                                      {.fd = err_open ? q.err_fd : -1, .events = POLLIN}};
                int n = poll(p, 2, (int)(MIN(left, 1.0) * 1000) + 1);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        r = -errno;
                        break;
                }
                char buf[8192];
                if (p[1].revents) {
                        ssize_t k = read(q.err_fd, buf, sizeof(buf));
                        if (k <= 0)
                                err_open = false;
                        else {
                                buffer_append(&err, buf, (size_t)k);
                                if (kvm && (res->kvm_error = kvm_broken(err.data))) {
                                        *ret_kvm_failed = true;
                                        r = -ENXIO;
                                        break;
                                }
                        }
                }
                if (p[0].revents) {
                        ssize_t k = read(q.out_fd, buf, sizeof(buf));
                        if (k <= 0) {
                                out_open = false;
                                continue;
                        }
                        if (log_fd >= 0 && write(log_fd, buf, (size_t)k) < 0)
                                log_warning_errno(errno, "boot: cannot write the serial log: %m");
                        BootEvent e = boot_watch_feed(&w, buf, (size_t)k);
                        for (; e != BOOT_EVENT_NONE; e = boot_watch_feed(&w, NULL, 0)) {
                                if (e == BOOT_EVENT_KERNEL) {
                                        res->time_to_kernel = now() - start;
                                        continue;
                                }
                                res->outcome = e;
                                if (e == BOOT_EVENT_READY)
                                        res->time_to_ready = now() - start;
                                break;
                        }
                        if (res->outcome != BOOT_EVENT_NONE) {
                                r = res->outcome == BOOT_EVENT_READY ? 0 : -EPROTO;
                                break;
                        }
                }
        }
        if (kvm && !*ret_kvm_failed && err.data && (res->kvm_error = kvm_broken(err.data))) {
                *ret_kvm_failed = true;
                r = -ENXIO;
        }
        if (r == -ETIMEDOUT && !out_open && !err_open) {
                /* QEMU ended by itself before the system came up. */
                log_error("boot: QEMU exited before the system was ready%s%s", err.data ? ": " : "",
                          err.data ? err.data : "");
                r = -EPROTO;
        }
        qemu_stop(&q);
        res->tail = boot_watch_tail(&w);
        res->detail = res->outcome < _BOOT_EVENT_MAX ? w.what[res->outcome] : NULL;
        res->used_kvm = kvm;
        boot_watch_done(&w);
        buffer_done(&err);
        return r;
}

/* Runs OVMF under KVM for a few seconds, without a disk: a KVM that can open a VM but not run
 * firmware (as on hosts without nested virtualisation support) fails here at once. */
static bool kvm_runs_guests(const char *tmp) {
        const Arch *host = arch_host();
        if (!host)
                return false;
        _cleanup_free_ char *vars = path_join(tmp, "probe-vars.fd");
        if (copy_file(host->firmware_vars, vars, 0600) < 0)
                return true; /* no firmware to probe with: let the boot itself tell */
        _cleanup_free_ char *code =
                xasprintf("if=pflash,format=raw,unit=0,readonly=on,file=%s", host->firmware_code);
        _cleanup_free_ char *var = xasprintf("if=pflash,format=raw,unit=1,file=%s", vars);
        char *const argv[] = {(char *)host->qemu_system,
                              (char *)"-accel",
                              (char *)"kvm",
                              (char *)"-machine",
                              (char *)host->qemu_machine,
                              (char *)"-m",
                              (char *)"128",
                              (char *)"-display",
                              (char *)"none",
                              (char *)"-nodefaults",
                              (char *)"-no-reboot",
                              (char *)"-drive",
                              code,
                              (char *)"-drive",
                              var,
                              NULL};
        Qemu q = {.out_fd = -1, .err_fd = -1};
        if (qemu_start(argv, &q) < 0)
                return false;
        Buffer err = {};
        double end = now() + 4;
        bool broken = false, exited = false;
        while (now() < end && !broken && !exited) {
                struct pollfd p = {.fd = q.err_fd, .events = POLLIN};
                if (poll(&p, 1, 200) > 0) {
                        char buf[4096];
                        ssize_t k = read(q.err_fd, buf, sizeof(buf));
                        if (k <= 0)
                                exited = true;
                        else {
                                buffer_append(&err, buf, (size_t)k);
                                broken = kvm_broken(err.data) != NULL;
                        }
                }
        }
        qemu_stop(&q);
        buffer_done(&err);
        log_debug_sub("boot", "KVM probe: %s", broken || exited ? "cannot run guests" : "works");
        return !broken && !exited;
}

bool boot_kvm_runs_guests(void) {
        char tmp[] = "/tmp/vmcompose-probe-XXXXXX";
        if (!boot_kvm_usable())
                return false;
        if (!mkdtemp(tmp))
                return false;
        bool ok = kvm_runs_guests(tmp);
        _cleanup_free_ char *vars = path_join(tmp, "probe-vars.fd");
        (void)unlink(vars);
        (void)rmdir(tmp);
        return ok;
}

int boot_image(const BootOptions *o, BootResult *res) {
        const char *format = o->format;
        char tmp[] = "/tmp/vmcompose-boot-XXXXXX";
        int r;

        *res = (BootResult){.time_to_kernel = -1, .time_to_ready = -1};
        if (!format) {
                r = boot_detect_format(o->image, &format);
                if (r < 0)
                        return log_error_errno(r, "boot: cannot read %s: %m", o->image);
        }
        if (!mkdtemp(tmp))
                return log_error_errno(errno, "boot: cannot create a temporary directory: %m");

        /* KVM runs guests of the host's architecture only: another's is emulated (TCG). */
        if (o->accel == BOOT_ACCEL_KVM && arch_is_foreign(boot_arch(o))) {
                (void)rm_rf(tmp);
                return log_error_errno(EINVAL,
                                       "boot: KVM cannot run %s guests on this host; use --accel "
                                       "tcg (or auto)",
                                       boot_arch(o)->name);
        }
        /* Secure Boot needs SMM, which a KVM that cannot run guests has not either. */
        bool kvm = o->accel == BOOT_ACCEL_KVM ||
                   (o->accel == BOOT_ACCEL_AUTO && !arch_is_foreign(boot_arch(o)) &&
                    boot_kvm_usable() && kvm_runs_guests(tmp));
        if (o->accel == BOOT_ACCEL_AUTO && !kvm && !arch_is_foreign(boot_arch(o)) &&
            boot_kvm_usable()) {
                res->fell_back = true;
                res->kvm_error = "KVM cannot run firmware here";
                log_notice("boot: /dev/kvm exists but cannot run a guest; using TCG");
        }
        bool kvm_failed;
        r = boot_once(o, format, kvm, tmp, res, &kvm_failed);
        if (kvm_failed && o->accel == BOOT_ACCEL_AUTO) {
                log_notice("boot: KVM cannot run this guest here (QEMU: \"%s\"); falling back "
                           "to TCG",
                           res->kvm_error ? res->kvm_error : "?");
                boot_result_done(res);
                r = boot_once(o, format, false, tmp, res, &kvm_failed);
                res->fell_back = true;
        } else if (kvm_failed)
                log_error("boot: KVM cannot run this guest (--accel kvm); try --accel tcg");
        (void)rm_rf(tmp);
        return r;
}
