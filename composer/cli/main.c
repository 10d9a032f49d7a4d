/* SPDX-License-Identifier: MIT */
/* vmcompose: compose minimal, hardened, bootable VM disk images from a declarative profile. */
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "config.h"
#include "vmcompose/audit.h"
#include "vmcompose/boottest.h"
#include "vmcompose/diff.h"
#include "vmcompose/log.h"
#include "vmcompose/output.h"
#include "vmcompose/signals.h"
#include "vmcompose/pipeline.h"
#include "vmcompose/profile.h"
#include "vmcompose/userns.h"
#include "vmcompose/spawn.h"

enum {
        EXIT_OK = 0,
        EXIT_BUILD_FAILED = 1,
        EXIT_USAGE = 2,
};

enum {
        ARG_VERSION = 0x100,
        ARG_RESOLVED,
        ARG_JSON,
        ARG_TARGET,
        ARG_ROOT,
        ARG_ESP,
        ARG_FIRMWARE,
        ARG_TIMEOUT,
        ARG_EXPECT,
        ARG_MEMORY,
        ARG_SERIAL_LOG,
        ARG_WRITE,
        ARG_DISK,
        ARG_ACCEL,
        ARG_FORMAT,
        ARG_LOCKED,
        ARG_CACHE_DIR,
        ARG_PARALLEL,
        ARG_UNTIL,
        ARG_STRICT_AUDIT,
        ARG_NO_ROOT_CACHE,
        ARG_POLICY,
        ARG_NO_TIMES,
        ARG_ARCH,
};

static const char main_help[] =
        "Usage: vmcompose [OPTIONS] COMMAND [ARGS]\n"
        "\n"
        "Compose minimal, hardened, bootable VM disk images from a declarative profile.\n"
        "\n"
        "Commands:\n"
        "  build PROFILE          build the profile's image into a directory\n"
        "  lock PROFILE           resolve the package set and pin it in NAME.lock\n"
        "  inspect IMAGE          check an image file's format headers and describe it\n"
        "  boot IMAGE             boot an image in QEMU and wait until it is up\n"
        "  audit IMAGE            check any image against policies; its attack surface\n"
        "  diff A B               what differs between two images or two manifests\n"
        "  size IMAGE|MANIFEST    where the root's bytes go, by package and directory\n"
        "  profile validate P...  check profiles (and everything they extend)\n"
        "  profile show P         print a profile, with the file:line of every value\n"
        "  help [COMMAND]         show help for a command\n"
        "\n"
        "Options:\n"
        "  -v, --verbose          say more (twice: debug output)\n"
        "  -q, --quiet            print errors only\n"
        "  -h, --help             show this help\n"
        "      --version          print the version\n"
        "\n"
        "Environment:\n"
        "  VMCOMPOSE_DEBUG=SUBSYSTEM,...  debug output for some subsystems (or 'all')\n"
        "  VMCOMPOSE_DATA_DIR=DIR         where profiles/, kernel-config/ and bootloader/ are\n"
        "                                 found\n"
        "  VMCOMPOSE_APT_DIR=DIR          the apt configuration for repositories: system\n"
        "                                 (default /etc/apt)\n"
        "  VMCOMPOSE_BINFMT_HANDLER=NAME  the binfmt_misc handler checked for another\n"
        "                                 architecture's programs (tests)\n"
        "\n"
        "Exit status: 0 success, 1 build failure, 2 usage or profile error.\n"
        "See vmcompose(1) and docs/profile.md.\n";

static const char build_help[] =
        "Usage: vmcompose build [OPTIONS] PROFILE\n"
        "\n"
        "Build the image PROFILE describes. Outputs are written as DIR/NAME.FORMAT, where NAME\n"
        "is the profile's name (NAME-TARGET with --target, then -ARCH with an --arch other than\n"
        "the profile's); a failed build leaves no partial file at those paths. As an ordinary\n"
        "user, the build runs as uid 0 of a user namespace mapping the user's subordinate ids\n"
        "(/etc/subuid, /etc/subgid: a line USER:START:65536 in each; newuidmap and newgidmap\n"
        "from the package uidmap): the same bytes as root's.\n"
        "\n"
        "Options:\n"
        "  -o, --output DIR       output directory (default: out)\n"
        "  -t, --target NAME      apply profiles/targets/NAME.yaml on top of PROFILE\n"
        "      --arch ARCH        build for ARCH (amd64, arm64) instead of distro.architecture;\n"
        "                         another architecture's programs run through qemu-user-static\n"
        "                         (a binfmt_misc handler with the F flag)\n"
        "      --root DIR         build the disk from DIR, a finished root tree: the package,\n"
        "                         policy and bootloader stages are skipped and DIR is used as\n"
        "                         it is (vmcompose writes DIR/etc/fstab)\n"
        "      --esp DIR          with --root: the ESP's contents\n"
        "      --locked           install exactly the packages of NAME.lock (vmcompose lock)\n"
        "      --strict-audit     fail when a deviation from the base profile has no why:\n"
        "      --cache-dir DIR    the download cache (default: $XDG_CACHE_HOME/vmcompose,\n"
        "                         /var/cache/vmcompose for root, else ~/.cache/vmcompose)\n"
        "      --parallel N       downloads at once (default: 8)\n"
        "      --no-root-cache    run dpkg even when the cache holds a root installed from\n"
        "                         the same packages and settings, and the solver even when\n"
        "                         it holds the plan of the same indexes and request (and\n"
        "                         store neither)\n"
        "      --until STAGE      stop after this stage (resolve, fetch, install, ...); writes\n"
        "                         no image: for timing and debugging\n"
        "  -v, --verbose / -q, --quiet / -h, --help\n";

static const char profile_help_head[] =
        "Usage: vmcompose profile validate [--target NAME] PROFILE...\n"
        "       vmcompose profile show [--resolved] [--json] [--target NAME] [--arch ARCH] "
        "PROFILE\n"
        "\n"
        "validate  loads each profile with everything it extends and checks it; prints\n"
        "          file:line:col: message for every problem and exits 2 if there is one.\n"
        "show      prints the profile; each value is annotated with the file:line:col that\n"
        "          set it. --resolved applies extends: overlays, the target and defaults;\n"
        "          --json prints {\"layers\", \"profile\", \"provenance\"} as JSON.\n"
        "\n"
        "Profile keys (docs/profile.md has the full description):\n";

static int parse_common(int c) {
        switch (c) {
        case 'v':
                log_set_max_level(log_get_max_level() < LOG_LEVEL_INFO ? LOG_LEVEL_INFO
                                                                       : LOG_LEVEL_DEBUG);
                return 1;
        case 'q':
                log_set_max_level(LOG_LEVEL_ERROR);
                return 1;
        default:
                return 0;
        }
}

static void print_profile_help(void) {
        Buffer b = {};
        schema_describe(&profile_schema, &b);
        fputs(profile_help_head, stdout);
        fputs(b.data, stdout);
        buffer_done(&b);
}

static double now_seconds(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int load(const char *path, const char *target, const char *arch, bool no_overlays,
                Profile **ret) {
        ProfileLoadOptions opts = {
                .data_dir = vmcompose_data_dir(),
                .target = target,
                .arch = arch,
                .no_overlays = no_overlays,
        };
        Diagnostics diag = {};
        int r;

        r = profile_load(path, &opts, &diag, ret);
        diag_print(&diag);
        if (r < 0 && diag.n_errors == 0)
                log_error_errno(r, "%s: failed to load profile: %m", path);
        diag_done(&diag);
        return r;
}

static int verb_profile(int argc, char *argv[]) {
        static const struct option options[] = {
                {"help", no_argument, NULL, 'h'},
                {"verbose", no_argument, NULL, 'v'},
                {"quiet", no_argument, NULL, 'q'},
                {"resolved", no_argument, NULL, ARG_RESOLVED},
                {"json", no_argument, NULL, ARG_JSON},
                {"target", required_argument, NULL, 't'},
                {"arch", required_argument, NULL, ARG_ARCH},
                {},
        };
        bool resolved = false, json = false;
        const char *target = NULL, *arch = NULL;
        int c;

        if (argc < 2 || streq(argv[1], "--help") || streq(argv[1], "-h") ||
            streq(argv[1], "help")) {
                print_profile_help();
                return argc < 2 ? EXIT_USAGE : EXIT_OK;
        }
        const char *sub = argv[1];
        if (!streq(sub, "validate") && !streq(sub, "show")) {
                log_error("unknown profile command '%s'; expected validate or show", sub);
                return EXIT_USAGE;
        }

        optind = 0;
        while ((c = getopt_long(argc - 1, argv + 1, "hvqt:", options, NULL)) >= 0) {
                if (parse_common(c))
                        continue;
                switch (c) {
                case 'h':
                        print_profile_help();
                        return EXIT_OK;
                case ARG_RESOLVED:
                        resolved = true;
                        break;
                case ARG_JSON:
                        json = true;
                        break;
                case 't':
                        target = optarg;
                        break;
                case ARG_ARCH:
                        arch = optarg;
                        break;
                default:
                        return EXIT_USAGE;
                }
        }
        int nargs = argc - 1 - optind;
        char **args = argv + 1 + optind;

        if (streq(sub, "validate")) {
                if (resolved || json) {
                        log_error("profile validate takes no --resolved or --json");
                        return EXIT_USAGE;
                }
                if (nargs < 1) {
                        log_error("profile validate: no PROFILE given");
                        return EXIT_USAGE;
                }
                int ret = EXIT_OK;
                for (int i = 0; i < nargs; i++) {
                        _cleanup_(profile_freep) Profile *p = NULL;
                        if (load(args[i], target, arch, false, &p) < 0)
                                ret = EXIT_USAGE;
                        else
                                log_notice("%s: ok (%s)", args[i], p->name);
                }
                return ret;
        }

        if (nargs != 1) {
                log_error("profile show: expected exactly one PROFILE");
                return EXIT_USAGE;
        }
        if ((target || arch) && !resolved) {
                log_error("profile show: --%s needs --resolved", target ? "target" : "arch");
                return EXIT_USAGE;
        }
        _cleanup_(profile_freep) Profile *p = NULL;
        if (load(args[0], target, arch, !resolved, &p) < 0)
                return EXIT_USAGE;
        _cleanup_free_ char *out = json ? profile_format_json(p) : profile_format_text(p);
        fputs(out, stdout);
        return fflush(stdout) == 0 ? EXIT_OK : EXIT_BUILD_FAILED;
}

static const char inspect_help[] =
        "Usage: vmcompose inspect IMAGE...\n"
        "\n"
        "Detect each image's format (raw, raw.zst, vhd, vhdx, qcow2) from its content, check it\n"
        "and describe the image. Every structure the format describes must lie inside the file:\n"
        "the VHD footer (cookie, checksum, size) and a dynamic VHD's header and blocks; VHDX\n"
        "headers, region tables, metadata and every present block in the BAT; the qcow2\n"
        "header, its extensions, the L1, L2 and refcount tables, data clusters and snapshots.\n"
        "A name ending in .vhd, .vhdx, .qcow2 or .raw.zst must hold that format (a file of\n"
        "another content is raw only when its name says .raw, .img or nothing). Exits 0 when\n"
        "every image is valid, 1 when one is corrupt, truncated or misaligned (the first\n"
        "problem is named) or is a sound VHD that Azure would not take (dynamic, or a size not\n"
        "in whole MiB), 2 on bad usage.\n";

static int verb_inspect(int argc, char *argv[]) {
        int ret = EXIT_OK;

        if (argc < 2) {
                fputs(inspect_help, stderr);
                return EXIT_USAGE;
        }
        if (streq(argv[1], "-h") || streq(argv[1], "--help")) {
                fputs(inspect_help, stdout);
                return EXIT_OK;
        }
        for (int i = 1; i < argc; i++) {
                Buffer out = {};
                int r = output_inspect(argv[i], &out);
                printf("%s:\n%s", argv[i], out.data ? out.data : "");
                if (r < 0) {
                        /* The reason, once: it may start with the name already. */
                        const char *e = out.data ? strstr(out.data, "  error: ") : NULL;
                        e = e ? e + 9 : "unreadable";
                        bool named = strncmp(e, argv[i], strlen(argv[i])) == 0;
                        log_error("%s%s%.*s", named ? "" : argv[i],
                                  named               ? ""
                                  : r == -EMEDIUMTYPE ? ": sound, but not for Azure: "
                                                      : ": invalid image: ",
                                  (int)strcspn(e, "\n"), e);
                        ret = EXIT_BUILD_FAILED;
                }
                buffer_done(&out);
        }
        return ret;
}

static const char audit_help[] =
        "Usage: vmcompose audit [OPTIONS] IMAGE\n"
        "\n"
        "Open IMAGE (raw, qcow2, vhd or vhdx; built by vmcompose or not) read-only with\n"
        "libguestfs, find its operating system, list the installed packages from its package\n"
        "database and check packages and files against the policies: every violation with the\n"
        "package and path and the policy rule it breaks. Also prints the attack surface:\n"
        "package count, installed size, setuid/setgid files, world-writable files, units\n"
        "enabled at boot and what they make listen on the network, the container runtimes' API\n"
        "sockets (containerd, dockerd, cri-o, podman) and the container images baked in\n"
        "(containers:). Exits 0 when clean, 1 when a\n"
        "policy is violated or the image cannot be read, 2 on bad usage.\n"
        "\n"
        "Options:\n"
        "      --policy NAME      a policy (profiles/policies/NAME.yaml, or a path); repeat for\n"
        "                         more (default: headless)\n"
        "      --json             print the report as JSON\n";

static int verb_audit(int argc, char *argv[]) {
        static const struct option options[] = {
                {"help", no_argument, NULL, 'h'},
                {"verbose", no_argument, NULL, 'v'},
                {"quiet", no_argument, NULL, 'q'},
                {"policy", required_argument, NULL, ARG_POLICY},
                {"json", no_argument, NULL, ARG_JSON},
                {},
        };
        _cleanup_strv_free_ char **policies = NULL;
        bool json = false;
        int c;

        optind = 0;
        while ((c = getopt_long(argc, argv, "hvq", options, NULL)) >= 0) {
                if (parse_common(c))
                        continue;
                switch (c) {
                case 'h':
                        fputs(audit_help, stdout);
                        return EXIT_OK;
                case ARG_POLICY:
                        strv_extend(&policies, optarg);
                        break;
                case ARG_JSON:
                        json = true;
                        break;
                default:
                        return EXIT_USAGE;
                }
        }
        if (argc - optind != 1) {
                log_error("audit: expected one IMAGE (see vmcompose audit --help)");
                return EXIT_USAGE;
        }
        const char *image = argv[optind];
        if (access(image, R_OK) < 0) {
                log_error_errno(errno, "audit: %s: %m", image);
                return EXIT_USAGE;
        }
        if (!policies)
                strv_extend(&policies, "headless");

        Diagnostics diag = {};
        _cleanup_(profile_freep) Profile *p = NULL;
        int r = profile_load_policies(policies, vmcompose_data_dir(), &diag, &p);
        diag_print(&diag);
        diag_done(&diag);
        if (r < 0)
                return EXIT_USAGE;

        AuditImage img = {};
        r = audit_read_image(image, &img);
        if (r < 0)
                return EXIT_BUILD_FAILED;
        AuditReport report = {};
        audit_check(&img, p, &report);
        _cleanup_free_ char *out = json ? audit_format_json(image, &img, &report)
                                        : audit_format_text(image, &img, &report);
        fputs(out, stdout);
        bool clean = report.n_findings == 0;
        audit_report_done(&report);
        audit_image_done(&img);
        if (fflush(stdout) != 0)
                return EXIT_BUILD_FAILED;
        return clean ? EXIT_OK : EXIT_BUILD_FAILED;
}

static const char boot_help[] =
        "Usage: vmcompose boot [OPTIONS] IMAGE\n"
        "\n"
        "Boot IMAGE (raw, qcow2, vhd or vhdx) in QEMU and wait until the system says it is up:\n"
        "every vmcompose image prints \"" BOOT_MARKER_READY "\" on its serial console once its\n"
        "default target is reached without failed units. Prints the time to the first kernel\n"
        "line and to ready. Fails (exit 1), with the last lines of the console, on timeout,\n"
        "kernel panic, emergency shell, a degraded system, firmware refusing the boot loader,\n"
        "or firmware finding nothing to boot (OVMF's UEFI shell or \"No bootable option\",\n"
        "SeaBIOS's \"No bootable device.\"), which ends the boot within seconds. An image that\n"
        "`vmcompose inspect` rejects, or a raw.zst, is refused before QEMU starts (exit 1).\n"
        "The image is not modified (QEMU -snapshot) unless --write is given. The guest has\n"
        "two CPUs, a virtio disk, no network card and a virtio-rng device (its entropy seeds\n"
        "the kernel's random generator at once, as on a cloud; under TCG it waits otherwise).\n"
        "\n"
        "Options:\n"
        "      --firmware bios|uefi|secureboot   default: uefi (secureboot: OVMF with Microsoft "
        "keys)\n"
        "      --accel auto|kvm|tcg              default: auto (KVM if it can run the guest, else "
        "TCG)\n"
        "      --timeout SECONDS                 default: 300\n"
        "      --expect REGEX                    the line that means up (extended regex)\n"
        "      --memory MIB                      default: 1024\n"
        "      --serial-log FILE                 keep the whole serial console output\n"
        "      --format raw|qcow2|vpc|vhdx       default: from the image's headers\n"
        "      --write                           keep what the guest writes (first-boot setup,\n"
        "                                        fsck repairs) in IMAGE\n"
        "      --arch amd64|arm64                the image's architecture; default: the\n"
        "                                        manifest's next to IMAGE, else the host's\n"
        "                                        (arm64: qemu-system-aarch64 -machine virt with\n"
        "                                        AAVMF; TCG on another host)\n"
        "      --disk FILE                       a raw image the guest sees as a second disk,\n"
        "                                        read-only (/dev/vdb: packages, a script)\n";

/* The architecture NAME.manifest.json (next to IMAGE, NAME.FORMAT) names, or NULL. */
static const Arch *image_arch(const char *image) {
        _cleanup_free_ char *stem = xstrdup(image);
        char *slash = strrchr(stem, '/'), *dot = strrchr(stem, '.');
        if (dot && (!slash || dot > slash))
                *dot = 0;
        _cleanup_free_ char *path = xasprintf("%s.manifest.json", stem);
        _cleanup_free_ char *data = NULL;
        size_t size = 0;
        if (read_full_file(path, 64 << 20, &data, &size) < 0)
                return NULL;
        Diagnostics diag = {};
        _cleanup_(node_freep) Node *root = NULL;
        int r = node_parse_yaml(path, data, size, &diag, &root);
        diag_done(&diag);
        const char *a = r == 0 && root ? node_map_scalar(root, "architecture") : NULL;
        const Arch *arch = a ? arch_find(a) : NULL;
        if (arch)
                log_info("boot: %s is an %s image (%s)", image, arch->name, path);
        return arch;
}

static int verb_boot(int argc, char *argv[]) {
        static const struct option options[] = {
                {"help", no_argument, NULL, 'h'},
                {"verbose", no_argument, NULL, 'v'},
                {"quiet", no_argument, NULL, 'q'},
                {"firmware", required_argument, NULL, ARG_FIRMWARE},
                {"timeout", required_argument, NULL, ARG_TIMEOUT},
                {"expect", required_argument, NULL, ARG_EXPECT},
                {"memory", required_argument, NULL, ARG_MEMORY},
                {"serial-log", required_argument, NULL, ARG_SERIAL_LOG},
                {"accel", required_argument, NULL, ARG_ACCEL},
                {"format", required_argument, NULL, ARG_FORMAT},
                {"write", no_argument, NULL, ARG_WRITE},
                {"arch", required_argument, NULL, ARG_ARCH},
                {"disk", required_argument, NULL, ARG_DISK},
                {},
        };
        BootOptions o = {.firmware = BOOT_FIRMWARE_UEFI,
                         .accel = BOOT_ACCEL_AUTO,
                         .timeout_sec = 300,
                         .memory_mib = 1024};
        uint64_t v;
        int c, r;

        optind = 0;
        while ((c = getopt_long(argc, argv, "hvq", options, NULL)) >= 0) {
                if (parse_common(c))
                        continue;
                switch (c) {
                case 'h':
                        fputs(boot_help, stdout);
                        return EXIT_OK;
                case ARG_FIRMWARE:
                        o.firmware = boot_firmware_from_string(optarg);
                        if (o.firmware < 0) {
                                log_error("boot: --firmware %s: expected bios, uefi or secureboot",
                                          optarg);
                                return EXIT_USAGE;
                        }
                        break;
                case ARG_ACCEL:
                        o.accel = boot_accel_from_string(optarg);
                        if (o.accel < 0) {
                                log_error("boot: --accel %s: expected auto, kvm or tcg", optarg);
                                return EXIT_USAGE;
                        }
                        break;
                case ARG_TIMEOUT:
                        if (parse_uint64(optarg, &v) < 0 || v == 0 || v > 86400) {
                                log_error("boot: --timeout %s: expected 1 to 86400 seconds",
                                          optarg);
                                return EXIT_USAGE;
                        }
                        o.timeout_sec = (unsigned)v;
                        break;
                case ARG_MEMORY:
                        if (parse_uint64(optarg, &v) < 0 || v < 64 || v > (1u << 20)) {
                                log_error("boot: --memory %s: expected 64 to 1048576 MiB", optarg);
                                return EXIT_USAGE;
                        }
                        o.memory_mib = v;
                        break;
                case ARG_EXPECT:
                        o.expect = optarg;
                        break;
                case ARG_SERIAL_LOG:
                        o.serial_log = optarg;
                        break;
                case ARG_WRITE:
                        o.write = true;
                        break;
                case ARG_ARCH:
                        o.arch = arch_find(optarg);
                        if (!o.arch) {
                                log_error("boot: --arch %s: expected one of %s", optarg,
                                          arch_names());
                                return EXIT_USAGE;
                        }
                        break;
                case ARG_DISK:
                        if (access(optarg, R_OK) < 0) {
                                log_error_errno(errno, "boot: --disk %s: %m", optarg);
                                return EXIT_USAGE;
                        }
                        o.disk = optarg;
                        break;
                case ARG_FORMAT:
                        if (!streq(optarg, "raw") && !streq(optarg, "qcow2") &&
                            !streq(optarg, "vpc") && !streq(optarg, "vhdx")) {
                                log_error("boot: --format %s: expected raw, qcow2, vpc or vhdx",
                                          optarg);
                                return EXIT_USAGE;
                        }
                        o.format = optarg;
                        break;
                default:
                        return EXIT_USAGE;
                }
        }
        if (argc - optind != 1) {
                log_error("boot: expected exactly one IMAGE (see vmcompose boot --help)");
                return EXIT_USAGE;
        }
        o.image = argv[optind];
        if (access(o.image, R_OK) < 0) {
                log_error_errno(errno, "boot: %s: %m", o.image);
                return EXIT_USAGE;
        }
        if (o.expect) {
                BootWatch w;
                _cleanup_free_ char *err = NULL;
                if (boot_watch_init(&w, o.expect, &err) < 0) {
                        log_error("boot: --expect '%s': %s", o.expect, err);
                        return EXIT_USAGE;
                }
                boot_watch_done(&w);
        }

        /* An image inspect rejects, or one that is no disk as it stands, never reaches QEMU:
         * the firmware would find nothing on it and wait in its shell until the timeout. (A
         * sound VHD that Azure would not take, -EMEDIUMTYPE, boots.) */
        const char *format = NULL;
        _cleanup_free_ char *bad = NULL;
        r = output_inspect_verdict(o.image, &format, &bad);
        if (r < 0 && r != -EMEDIUMTYPE) {
                log_error("boot: refusing %s: %s", o.image, bad);
                return EXIT_BUILD_FAILED;
        }
        if (streq(format, "raw.zst")) {
                log_error("boot: refusing %s: it is zstd-compressed (zstd -d makes the raw image)",
                          o.image);
                return EXIT_BUILD_FAILED;
        }

        /* --arch, else the manifest's, else the host's (and a hint when nothing boots). */
        if (!o.arch)
                o.arch = image_arch(o.image);
        const bool arch_given = o.arch != NULL;
        if (!o.arch)
                o.arch = arch_host() ?: arch_find("amd64");
        signals_install();
        BootResult res;
        r = boot_image(&o, &res);
        const char *accel = res.used_kvm ? "kvm" : res.fell_back ? "tcg (KVM unusable)" : "tcg";
        if (r == 0) {
                printf("%s: up (firmware %s, %s): kernel after %.1f s, ready after %.1f s\n",
                       o.image, boot_firmware_to_string(o.firmware), accel, res.time_to_kernel,
                       res.time_to_ready);
                boot_result_done(&res);
                return EXIT_OK;
        }
        static const char *const what[_BOOT_EVENT_MAX] = {
                [BOOT_EVENT_DEGRADED] = "the system is degraded (a unit failed)",
                [BOOT_EVENT_PANIC] = "kernel panic",
                [BOOT_EVENT_EMERGENCY] = "the boot ended in an emergency shell",
                [BOOT_EVENT_FIRMWARE_DENIED] = "the firmware refused to start the boot loader",
                [BOOT_EVENT_NO_BOOT] = "the firmware found nothing to boot",
        };
        if (r == -EPROTO && res.outcome == BOOT_EVENT_NO_BOOT) {
                log_error("boot: the firmware found nothing to boot on %s (%s; firmware %s, %s, "
                          "%s machine%s). Last console lines:\n%s",
                          o.image, res.detail ? res.detail : "?",
                          boot_firmware_to_string(o.firmware), accel, o.arch->name,
                          arch_given ? "" : "; for an image of another architecture: --arch",
                          res.tail ? res.tail : "");
                boot_result_done(&res);
                return EXIT_BUILD_FAILED;
        }
        const char *why = r == -ETIMEDOUT                                      ? "timed out"
                          : r == -EINTR                                        ? "interrupted"
                          : res.outcome < _BOOT_EVENT_MAX && what[res.outcome] ? what[res.outcome]
                                                                               : "QEMU failed";
        log_error("%s: did not come up: %s (firmware %s, %s, kernel %s). Last console lines:\n%s",
                  o.image, why, boot_firmware_to_string(o.firmware), accel,
                  res.time_to_kernel >= 0 ? "started" : "never started", res.tail ? res.tail : "");
        boot_result_done(&res);
        return EXIT_BUILD_FAILED;
}

static const char lock_help[] =
        "Usage: vmcompose lock [OPTIONS] PROFILE\n"
        "\n"
        "Resolve the profile's package set and write it, with every package's version,\n"
        "architecture, SHA-256, size and repository, to NAME.lock (NAME-TARGET.lock with\n"
        "--target) next to the profile. `vmcompose build --locked` then installs exactly that "
        "set.\n"
        "Prints `input digest: sha256:HEX`: the digest of the build's inputs (version, resolved\n"
        "profile, repository metadata, package set), the manifest's input-digest.\n"
        "\n"
        "Options:\n"
        "  -t, --target NAME      apply profiles/targets/NAME.yaml on top of PROFILE\n"
        "      --arch ARCH        resolve for ARCH (amd64, arm64); NAME-ARCH.lock\n"
        "      --cache-dir DIR    the download cache (default: $XDG_CACHE_HOME/vmcompose,\n"
        "                         /var/cache/vmcompose for root)\n";

typedef struct BuildArgs {
        const char *output, *target, *arch, *root, *esp, *cache_dir, *until;
        bool locked, strict_audit, no_root_cache;
        unsigned parallel;
} BuildArgs;

/* The options build and lock share; returns 1 when the option was one of them, 0 when not,
 * -1 on a bad value. */
static int parse_build_option(int c, BuildArgs *a) {
        uint64_t v;

        switch (c) {
        case 'o':
                a->output = optarg;
                return 1;
        case 't':
                a->target = optarg;
                return 1;
        case ARG_ARCH:
                a->arch = optarg;
                return 1;
        case ARG_ROOT:
                a->root = optarg;
                return 1;
        case ARG_ESP:
                a->esp = optarg;
                return 1;
        case ARG_LOCKED:
                a->locked = true;
                return 1;
        case ARG_STRICT_AUDIT:
                a->strict_audit = true;
                return 1;
        case ARG_CACHE_DIR:
                a->cache_dir = optarg;
                return 1;
        case ARG_NO_ROOT_CACHE:
                a->no_root_cache = true;
                return 1;
        case ARG_UNTIL: {
                size_t n;
                const Stage *stages = pipeline_stages(&n);
                for (size_t i = 0; i < n; i++)
                        if (streq(stages[i].name, optarg)) {
                                a->until = optarg;
                                return 1;
                        }
                Buffer names = {};
                for (size_t i = 0; i < n; i++)
                        buffer_printf(&names, "%s%s", i ? ", " : "", stages[i].name);
                log_error("--until %s: no such stage (the stages: %s)", optarg, names.data);
                buffer_done(&names);
                return -1;
        }
        case ARG_PARALLEL:
                if (parse_uint64(optarg, &v) < 0 || v == 0 || v > 64) {
                        log_error("--parallel %s: expected 1 to 64", optarg);
                        return -1;
                }
                a->parallel = (unsigned)v;
                return 1;
        default:
                return 0;
        }
}

/* An ordinary user's build goes on as uid 0 of a user namespace (userns.h). Returns -1 in the
 * namespace (the build goes on there), or, in the calling process, the exit code to return:
 * the build's own once the namespace has ended, EXIT_BUILD_FAILED when it cannot be made. */
static int enter_user_namespace(void) {
        SubidRange uids, gids;
        _cleanup_free_ char *why = NULL;
        const unsigned uid = (unsigned)getuid(), gid = (unsigned)getgid();
        int status = EXIT_BUILD_FAILED;
        int r = userns_check(&uids, &gids, &why);
        if (r >= 0)
                r = userns_enter(&uids, &gids, &status, &why);
        if (r < 0) {
                log_error("build: cannot build as an ordinary user (uid %u): %s", uid, why);
                return EXIT_BUILD_FAILED;
        }
        if (r > 0)
                return status;
        log_info("build: as uid 0 of a user namespace: uid 0 is %u, 1-%u are %lu-%lu (gid 0 is "
                 "%u, the others %lu-%lu)",
                 uid, USERNS_IDS - 1, uids.start, uids.start + USERNS_IDS - 2, gid, gids.start,
                 gids.start + USERNS_IDS - 2);
        return -1;
}

/* The default cache directory, made with its parents if missing (0700: the user's own). */
static int make_default_cache(const char *dir) {
        int r = mkdir_parents(dir);
        if (r == 0 && mkdir(dir, 0700) < 0 && errno != EEXIST)
                r = -errno;
        if (r < 0)
                return log_error_errno(r, "Failed to create the cache directory %s: %m", dir);
        return 0;
}

/* A user's build adds to its cache: one that is root's (or another user's) is refused before
 * anything is written, with what to do instead. 0 or -1 (logged). */
static int check_cache_writable(const char *dir) {
        _cleanup_free_ char *entry = NULL;
        int r = fetch_cache_check_writable(dir, &entry);
        if (r >= 0)
                return 0;
        struct stat st;
        _cleanup_free_ char *owner = stat(entry, &st) == 0
                                             ? xasprintf("owned by uid %u", (unsigned)st.st_uid)
                                             : xstrdup("unreadable");
        _cleanup_free_ char *mine = fetch_default_cache_dir();
        const struct passwd *pw = getpwuid(getuid());
        _cleanup_free_ char *user = pw ? xstrdup(pw->pw_name) : xasprintf("%u", (unsigned)getuid());
        errno = -r;
        log_error("build: cannot add to the cache %s: %s is %s, not writable for uid %u (%m). A "
                  "build keeps what it downloads and installs in its cache: use one of your own "
                  "(--cache-dir DIR, by default %s), or have root hand this one over (chown -R "
                  "%s: %s)",
                  dir, streq(entry, dir) ? "the directory" : entry, owner, (unsigned)getuid(), mine,
                  user, dir);
        return -1;
}

/* A root build in a user's cache (one that uid 0 does not own) leaves what it adds to that
 * user, who could not add to the cache beside it or after it otherwise: before the build, the
 * cache's directories are made the user's; after it, what root added. Whether a build may do
 * this is checked where it starts (check_cache_writable() for a user). */
static void share_cache(const char *dir, bool after) {
        struct stat st;
        if (geteuid() != 0 || userns_active() || stat(dir, &st) < 0 || st.st_uid == 0)
                return;
        _cleanup_free_ char *entry = NULL;
        int r = after ? fetch_cache_chown(dir, st.st_uid, st.st_gid, &entry)
                      : fetch_cache_share(dir, st.st_uid, st.st_gid, &entry);
        if (r < 0)
                log_warning_errno(r,
                                  "Failed to give %s to the cache's owner (uid %u), ignoring: %m",
                                  entry, (unsigned)st.st_uid);
}

static int run_build(const char *profile_path, const BuildArgs *a, bool write_lock) {
        const char *stop_after = write_lock ? "resolve" : a->until;
        _cleanup_(profile_freep) Profile *p = NULL;
        int r;

        /* The user's default, chosen before the build becomes uid 0 in a namespace. A build
         * from a prepared root (--root) installs nothing and needs none: its files keep the
         * owners they have. */
        _cleanup_free_ char *cache_dir =
                a->cache_dir ? xstrdup(a->cache_dir) : fetch_default_cache_dir();
        if (!a->root && geteuid() != 0 && check_cache_writable(cache_dir) < 0)
                return EXIT_BUILD_FAILED;
        if (!write_lock && !a->root && geteuid() != 0) {
                r = enter_user_namespace();
                if (r >= 0)
                        return r;
        }
        if (!a->cache_dir && !a->root && make_default_cache(cache_dir) < 0)
                return EXIT_BUILD_FAILED;
        share_cache(cache_dir, false);
        double start = now_seconds();
        if (load(profile_path, a->target, a->arch, false, &p) < 0)
                return EXIT_USAGE;
        if (!write_lock) {
                r = mkdir_p(a->output);
                if (r < 0) {
                        log_error_errno(r, "Failed to create output directory %s: %m", a->output);
                        return EXIT_BUILD_FAILED;
                }
        }
        /* NAME[-TARGET][-ARCH]: -ARCH when --arch changed the profile's own architecture. */
        _cleanup_free_ char *image_name =
                xasprintf("%s%s%s%s%s", p->name, a->target ? "-" : "", a->target ?: "",
                          p->arch_override ? "-" : "", p->arch_override ?: "");
        BuildContext ctx = {
                .profile = p,
                .profile_path = profile_path,
                .output_dir = a->output,
                .target = a->target,
                .root_dir = a->root,
                .esp_dir = a->esp,
                .image_name = image_name,
                .cache_dir = cache_dir,
                .repo_config_dir = getenv("VMCOMPOSE_APT_DIR"),
                .locked = a->locked,
                .strict_audit = a->strict_audit,
                .no_root_cache = a->no_root_cache,
                .parallel = a->parallel,
                .stop_after = stop_after,
        };
        signals_install();
        r = pipeline_run(&ctx);
        if (r == 0 && write_lock)
                r = build_write_lock(&ctx);
        if (r == 0 && write_lock) {
                _cleanup_free_ char *digest = NULL, *failed = NULL;
                r = build_input_digest(&ctx, &digest, &failed);
                if (r < 0)
                        log_error_errno(r, "input digest: cannot read %s: %m", failed);
                else
                        printf("input digest: %s\n", digest);
        }
        build_context_done(&ctx);
        share_cache(cache_dir, true);
        if (r == -EINTR && signals_received()) {
                log_error("interrupted by signal %d; nothing was written", signals_received());
                return EXIT_BUILD_FAILED;
        }
        if (r != 0)
                return EXIT_BUILD_FAILED;
        if (stop_after && !write_lock)
                log_notice("stopped after stage %s, as asked; no image was written", stop_after);
        else if (!write_lock) {
                /* The time in the root's programs ran emulated for another architecture. */
                const Arch *arch = p->config.arch;
                double in_root = spawn_in_root_seconds();
                if (arch_is_foreign(arch) && spawn_native_programs() > 0)
                        log_notice("built %s in %s: %.1f s, %.1f s of it in the root's programs "
                                   "(%s ones emulated by qemu-user, %u of the host's native "
                                   "builds of the same package versions)",
                                   ctx.image_name, a->output, now_seconds() - start, in_root,
                                   arch->name, spawn_native_programs());
                else if (arch_is_foreign(arch))
                        log_notice("built %s in %s: %.1f s, %.1f s of it emulated (%s programs in "
                                   "the root, qemu-user)",
                                   ctx.image_name, a->output, now_seconds() - start, in_root,
                                   arch->name);
                else
                        log_notice("built %s in %s: %.1f s, %.1f s of it in the root's programs",
                                   ctx.image_name, a->output, now_seconds() - start, in_root);
        }
        return EXIT_OK;
}

static int verb_lock(int argc, char *argv[]) {
        static const struct option options[] = {
                {"help", no_argument, NULL, 'h'},
                {"verbose", no_argument, NULL, 'v'},
                {"quiet", no_argument, NULL, 'q'},
                {"target", required_argument, NULL, 't'},
                {"arch", required_argument, NULL, ARG_ARCH},
                {"cache-dir", required_argument, NULL, ARG_CACHE_DIR},
                {},
        };
        BuildArgs a = {.output = "."};
        int c;

        optind = 0;
        while ((c = getopt_long(argc, argv, "hvqt:", options, NULL)) >= 0) {
                if (parse_common(c))
                        continue;
                if (c == 'h') {
                        fputs(lock_help, stdout);
                        return EXIT_OK;
                }
                int k = parse_build_option(c, &a);
                if (k <= 0)
                        return EXIT_USAGE;
        }
        if (argc - optind != 1) {
                log_error("lock: expected exactly one PROFILE (see vmcompose lock --help)");
                return EXIT_USAGE;
        }
        return run_build(argv[optind], &a, true);
}

static int verb_build(int argc, char *argv[]) {
        static const struct option options[] = {
                {"help", no_argument, NULL, 'h'},
                {"verbose", no_argument, NULL, 'v'},
                {"quiet", no_argument, NULL, 'q'},
                {"output", required_argument, NULL, 'o'},
                {"target", required_argument, NULL, 't'},
                {"arch", required_argument, NULL, ARG_ARCH},
                {"root", required_argument, NULL, ARG_ROOT},
                {"esp", required_argument, NULL, ARG_ESP},
                {"locked", no_argument, NULL, ARG_LOCKED},
                {"strict-audit", no_argument, NULL, ARG_STRICT_AUDIT},
                {"no-root-cache", no_argument, NULL, ARG_NO_ROOT_CACHE},
                {"cache-dir", required_argument, NULL, ARG_CACHE_DIR},
                {"parallel", required_argument, NULL, ARG_PARALLEL},
                {"until", required_argument, NULL, ARG_UNTIL},
                {},
        };
        BuildArgs a = {.output = "out"};
        struct stat st;
        int c;

        optind = 0;
        while ((c = getopt_long(argc, argv, "hvqo:t:", options, NULL)) >= 0) {
                if (parse_common(c))
                        continue;
                if (c == 'h') {
                        fputs(build_help, stdout);
                        return EXIT_OK;
                }
                if (parse_build_option(c, &a) <= 0)
                        return EXIT_USAGE;
        }
        if (a.esp && !a.root) {
                log_error("build: --esp goes with --root");
                return EXIT_USAGE;
        }
        if (a.root && (stat(a.root, &st) < 0 || !S_ISDIR(st.st_mode))) {
                log_error("build: --root %s is not a directory", a.root);
                return EXIT_USAGE;
        }
        if (a.esp && (stat(a.esp, &st) < 0 || !S_ISDIR(st.st_mode))) {
                log_error("build: --esp %s is not a directory", a.esp);
                return EXIT_USAGE;
        }
        if (a.locked && a.root) {
                log_error("build: --locked pins packages, --root skips them: use one");
                return EXIT_USAGE;
        }
        if (argc - optind != 1) {
                log_error("build: expected exactly one PROFILE (see vmcompose build --help)");
                return EXIT_USAGE;
        }
        return run_build(argv[optind], &a, false);
}

static const char diff_help[] =
        "Usage: vmcompose diff [OPTIONS] A B\n"
        "\n"
        "Compare two images (raw, vhd, vhdx or qcow2, in any pairing) or two NAME.manifest.json\n"
        "files, without root and without mounting. Reports the packages added, removed or\n"
        "changed (from the manifest beside an image when there is one, else from the image's\n"
        "dpkg database), the partition table (type, size, UUID, name) and each filesystem's\n"
        "type, UUID, label and size, and every file added, removed or changed (content hash,\n"
        "size, mode, owner, xattrs, times, link target), grouped by the package that owns it.\n"
        "ext4 and FAT filesystems are read; qcow2 and vhdx images are first written out as raw\n"
        "(by vmcompose's own readers, compressed qcow2 clusters too; backing or differencing\n"
        "images by qemu-img) into an unnamed temporary file in $TMPDIR, which no exit leaves\n"
        "behind.\n"
        "\n"
        "Options:\n"
        "      --json             print the comparison as one JSON object\n"
        "      --no-times         ignore modification and change times\n"
        "  -q, --quiet            print only the summary line\n"
        "\n"
        "Exit status: 0 identical, 1 different, 2 bad usage or an input that is not a readable\n"
        "image or manifest (unknown format, truncated, corrupt), named in the message.\n";

static int verb_diff(int argc, char *argv[]) {
        static const struct option options[] = {
                {"help", no_argument, NULL, 'h'},
                {"verbose", no_argument, NULL, 'v'},
                {"quiet", no_argument, NULL, 'q'},
                {"json", no_argument, NULL, ARG_JSON},
                {"no-times", no_argument, NULL, ARG_NO_TIMES},
                {},
        };
        DiffOptions o = {};
        bool json = false, quiet = false;
        int c;

        optind = 0;
        while ((c = getopt_long(argc, argv, "hvq", options, NULL)) >= 0) {
                if (c == 'q')
                        quiet = true;
                if (parse_common(c))
                        continue;
                switch (c) {
                case 'h':
                        fputs(diff_help, stdout);
                        return EXIT_OK;
                case ARG_JSON:
                        json = true;
                        break;
                case ARG_NO_TIMES:
                        o.no_times = true;
                        break;
                default:
                        return EXIT_USAGE;
                }
        }
        if (argc - optind != 2) {
                log_error("diff: expected two images or two manifests (see vmcompose diff --help)");
                return EXIT_USAGE;
        }
        DiffSide a = {}, b = {};
        _cleanup_free_ char *err = NULL;
        if (diff_sides_open(argv[optind], argv[optind + 1], &a, &b, &err) < 0) {
                log_error("diff: %s", err);
                return EXIT_USAGE;
        }
        DiffResult r;
        diff_sides(&a, &b, &o, &r);
        _cleanup_free_ char *out = json ? diff_format_json(&r) : diff_format_text(&r, quiet);
        fputs(out, stdout);
        int ret = r.identical ? EXIT_OK : EXIT_BUILD_FAILED;
        diff_result_done(&r);
        diff_side_done(&a);
        diff_side_done(&b);
        if (fflush(stdout) != 0)
                return EXIT_USAGE;
        return ret;
}

static const char size_help[] =
        "Usage: vmcompose size [OPTIONS] IMAGE|MANIFEST\n"
        "\n"
        "Print where the root's bytes go: every regular file's size, summed by the package that\n"
        "owns it (the dpkg database; \"(no package)\" for files no package lists) and, below\n"
        "each package, by directory (its first four components), largest first. The same data\n"
        "as the NAME.size.svg treemap every build writes. From NAME.manifest.json (its \"size\")\n"
        "or from an image (raw, vhd, vhdx, qcow2), whose root filesystem is read as diff reads\n"
        "it, without root and without mounting.\n"
        "\n"
        "Options:\n"
        "      --json             print the same as one JSON object\n"
        "\n"
        "Exit status: 0 success, 2 bad usage or an input that is not a readable image or\n"
        "manifest.\n";

static int verb_size(int argc, char *argv[]) {
        static const struct option options[] = {
                {"help", no_argument, NULL, 'h'},
                {"verbose", no_argument, NULL, 'v'},
                {"quiet", no_argument, NULL, 'q'},
                {"json", no_argument, NULL, ARG_JSON},
                {},
        };
        bool json = false;
        int c;

        optind = 0;
        while ((c = getopt_long(argc, argv, "hvq", options, NULL)) >= 0) {
                if (parse_common(c))
                        continue;
                switch (c) {
                case 'h':
                        fputs(size_help, stdout);
                        return EXIT_OK;
                case ARG_JSON:
                        json = true;
                        break;
                default:
                        return EXIT_USAGE;
                }
        }
        if (argc - optind != 1) {
                log_error("size: expected one image or manifest (see vmcompose size --help)");
                return EXIT_USAGE;
        }
        _cleanup_(size_report_done) SizeReport size = {};
        _cleanup_free_ char *err = NULL;
        if (diff_size_open(argv[optind], &size, &err) < 0) {
                log_error("size: %s", err);
                return EXIT_USAGE;
        }
        _cleanup_free_ char *out = NULL;
        if (json) {
                JsonWriter w = {.pretty = true};
                size_report_json(&w, &size);
                out = json_finish(&w);
        } else
                out = size_report_table(&size);
        fputs(out, stdout);
        return fflush(stdout) != 0 ? EXIT_USAGE : EXIT_OK;
}

/* The commands, like git's table of builtins: the name, what runs it, and its help. */
typedef struct Verb {
        const char *name;
        int (*run)(int argc, char *argv[]);
        void (*help)(void); /* prints the command's help on stdout */
} Verb;

static const Verb *verb_find(const char *name);

static void help_main(void) {
        fputs(main_help, stdout);
}
static void help_build(void) {
        fputs(build_help, stdout);
}
static void help_lock(void) {
        fputs(lock_help, stdout);
}
static void help_inspect(void) {
        fputs(inspect_help, stdout);
}
static void help_boot(void) {
        fputs(boot_help, stdout);
}
static void help_audit(void) {
        fputs(audit_help, stdout);
}
static void help_diff(void) {
        fputs(diff_help, stdout);
}
static void help_size(void) {
        fputs(size_help, stdout);
}

static int verb_help(int argc, char *argv[]) {
        if (argc < 2) {
                help_main();
                return EXIT_OK;
        }
        const Verb *v = verb_find(argv[1]);
        if (!v) {
                log_error("no help for unknown command '%s'", argv[1]);
                return EXIT_USAGE;
        }
        v->help();
        return EXIT_OK;
}

static const Verb verbs[] = {
        {"build", verb_build, help_build},       {"lock", verb_lock, help_lock},
        {"inspect", verb_inspect, help_inspect}, {"boot", verb_boot, help_boot},
        {"audit", verb_audit, help_audit},       {"diff", verb_diff, help_diff},
        {"size", verb_size, help_size},          {"profile", verb_profile, print_profile_help},
        {"help", verb_help, help_main},
};

static const Verb *verb_find(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (streq(verbs[i].name, name))
                        return &verbs[i];
        return NULL;
}

int main(int argc, char *argv[]) {
        static const struct option options[] = {
                {"help", no_argument, NULL, 'h'},
                {"version", no_argument, NULL, ARG_VERSION},
                {"verbose", no_argument, NULL, 'v'},
                {"quiet", no_argument, NULL, 'q'},
                {},
        };
        int c;

        log_parse_environment();
        while ((c = getopt_long(argc, argv, "+hvq", options, NULL)) >= 0) {
                if (parse_common(c))
                        continue;
                switch (c) {
                case 'h':
                        fputs(main_help, stdout);
                        return EXIT_OK;
                case ARG_VERSION:
                        printf("vmcompose %s\n", VMCOMPOSE_VERSION);
                        return EXIT_OK;
                default:
                        fputs(main_help, stderr);
                        return EXIT_USAGE;
                }
        }
        if (optind >= argc) {
                fputs(main_help, stderr);
                return EXIT_USAGE;
        }

        const char *name = argv[optind];
        const Verb *verb = verb_find(name);
        if (!verb) {
                log_error("unknown command '%s' (see vmcompose --help)", name);
                return EXIT_USAGE;
        }
        return verb->run(argc - optind, argv + optind);
}
