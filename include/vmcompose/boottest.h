/* SPDX-License-Identifier: MIT */
#pragma once

#include <regex.h>
#include <stdbool.h>
#include <stdint.h>

#include "vmcompose/arch.h"
#include "vmcompose/util.h"

/* `vmcompose boot`: boot an image in QEMU and say whether it came up (composer/boottest/). */

/* The line every vmcompose image prints on its serial console once the default target is
 * reached: "vmcompose-boot: ready" when the system is running, "vmcompose-boot: degraded ..."
 * when a unit failed (bootloader/ready-unit.c writes the unit that prints it). */
#define BOOT_MARKER_READY "vmcompose-boot: ready"
#define BOOT_MARKER_DEGRADED "vmcompose-boot: degraded"

typedef enum BootFirmware {
        BOOT_FIRMWARE_BIOS,
        BOOT_FIRMWARE_UEFI,
        BOOT_FIRMWARE_SECUREBOOT,
        _BOOT_FIRMWARE_MAX,
        _BOOT_FIRMWARE_INVALID = -EINVAL,
} BootFirmware;

typedef enum BootAccel {
        BOOT_ACCEL_AUTO,
        BOOT_ACCEL_KVM,
        BOOT_ACCEL_TCG,
        _BOOT_ACCEL_MAX,
        _BOOT_ACCEL_INVALID = -EINVAL,
} BootAccel;

const char *boot_firmware_to_string(BootFirmware f);
BootFirmware boot_firmware_from_string(const char *s);
const char *boot_accel_to_string(BootAccel a);
BootAccel boot_accel_from_string(const char *s);

typedef enum BootEvent {
        BOOT_EVENT_NONE,
        BOOT_EVENT_KERNEL,          /* the kernel printed its first line */
        BOOT_EVENT_READY,           /* the expected line appeared */
        BOOT_EVENT_DEGRADED,        /* the system came up with failed units */
        BOOT_EVENT_PANIC,           /* kernel panic */
        BOOT_EVENT_EMERGENCY,       /* emergency or rescue shell, dracut/initramfs shell */
        BOOT_EVENT_FIRMWARE_DENIED, /* the firmware refused to start the boot loader */
        BOOT_EVENT_NO_BOOT,         /* the firmware found nothing to boot (OVMF's shell, ...) */
        _BOOT_EVENT_MAX,
} BootEvent;

/* Watches the serial console's bytes: works on chunks (prompts have no newline), drops
 * terminal escape sequences, keeps the last lines for error reports. The firmware's "nothing
 * to boot" states (OVMF's shell prompt or its "No bootable option or device was found",
 * SeaBIOS's "No bootable device.") count only before the kernel's first line. */
typedef struct BootWatch {
        regex_t expect;
        bool has_expect;
        char *pending; /* the current incomplete line */
        size_t pending_len;
        char *tail[20]; /* the last complete lines, a ring */
        unsigned tail_next;
        bool seen[_BOOT_EVENT_MAX];
        bool reported[_BOOT_EVENT_MAX];
        const char *what[_BOOT_EVENT_MAX]; /* what the matched line means, when known (static) */
        unsigned char escape; /* inside a terminal escape: 1 after ESC, 2 in a CSI sequence */
} BootWatch;

/* expect: an extended regex matched against each line (NULL: BOOT_MARKER_READY). Returns 0
 * or -EINVAL for a bad regex (with regerror's message in *ret_error, caller frees). */
int boot_watch_init(BootWatch *w, const char *expect, char **ret_error);
void boot_watch_done(BootWatch *w);
/* Feeds output; returns the first new event found in it (BOOT_EVENT_NONE if none). Call
 * again with (NULL, 0) to drain further events of the same chunk. */
BootEvent boot_watch_feed(BootWatch *w, const char *data, size_t size);
/* The last lines seen, oldest first, each ending in a newline. Caller frees. */
char *boot_watch_tail(const BootWatch *w);

typedef struct BootOptions {
        const char *image;
        const char *format; /* raw, qcow2, vpc, vhdx; NULL: from the image's headers */
        BootFirmware firmware;
        BootAccel accel;
        unsigned timeout_sec;
        const char *expect; /* NULL: BOOT_MARKER_READY */
        uint64_t memory_mib;
        const char *serial_log; /* NULL: none */
        bool write;             /* false: -snapshot, the image is not changed */
        const Arch *arch;       /* the image's (QEMU, machine, firmware); NULL: the host's */
        const char *disk;       /* a raw image the guest sees as a second, read-only disk */
} BootOptions;

typedef struct BootResult {
        BootEvent outcome; /* READY on success */
        bool used_kvm;
        bool fell_back;        /* auto: KVM could not run the guest, TCG was used */
        const char *kvm_error; /* what QEMU said about KVM (static string) */
        double time_to_kernel; /* seconds from QEMU start, < 0 if never seen */
        double time_to_ready;
        char *tail;         /* the last serial lines, for a failure report */
        const char *detail; /* what the firmware did, for BOOT_EVENT_NO_BOOT (static) */
} BootResult;

/* Boots the image and waits for the expected line. Returns 0 when it came up; -ETIMEDOUT,
 * -EPROTO (panic, emergency shell, degraded, firmware refusal, nothing to boot: see
 * result->outcome) or
 * another negative errno. QEMU is stopped, by its PID, on every path. */
int boot_image(const BootOptions *o, BootResult *result);
void boot_result_done(BootResult *r);

/* Whether KVM can be used at all here: /dev/kvm opens and creates a VM. (A KVM that opens
 * but cannot run the guest is caught while booting: auto then restarts under TCG.) */
bool boot_kvm_usable(void);
/* boot_kvm_usable(), and a firmware actually runs under it (a few seconds' probe). */
bool boot_kvm_runs_guests(void);

/* The image format from its headers: "qcow2", "vhdx", "vpc" (fixed VHD) or "raw". */
int boot_detect_format(const char *path, const char **ret);
