/* SPDX-License-Identifier: MIT */
/* Reading a serial console: what the boot did, line by line. */
#include <string.h>

#include "vmcompose/boottest.h"

static const struct {
        BootEvent event;
        const char *needle;
        bool partial;       /* also matches an unfinished line: a prompt */
        bool firmware;      /* only before the kernel started: the firmware's own words */
        const char *unless; /* not on a line that also holds this */
        const char *what;   /* what it means, for the report */
} patterns[] = {
        {.event = BOOT_EVENT_KERNEL, .needle = "Linux version "},
        {.event = BOOT_EVENT_DEGRADED, .needle = BOOT_MARKER_DEGRADED},
        {.event = BOOT_EVENT_PANIC, .needle = "Kernel panic - not syncing"},
        {.event = BOOT_EVENT_EMERGENCY, .needle = "You are in emergency mode"},
        {.event = BOOT_EVENT_EMERGENCY,
         .needle = "Give root password for maintenance",
         .partial = true},
        {.event = BOOT_EVENT_EMERGENCY, .needle = "Dropping to a shell!"},
        {.event = BOOT_EVENT_EMERGENCY, .needle = "(initramfs) ", .partial = true},
        /* Secure Boot refusing OVMF's own shell is the fallback failing, not the loader. */
        {.event = BOOT_EVENT_FIRMWARE_DENIED,
         .needle = "Access Denied",
         .unless = "\"EFI Internal Shell\""},
        {.event = BOOT_EVENT_FIRMWARE_DENIED,
         .needle = "Security Violation",
         .unless = "\"EFI Internal Shell\""},
        /* Nothing to boot. OVMF tries every boot option, then starts its shell, which counts
         * down for startup.nsh (a script there could still boot something) and then prompts;
         * under Secure Boot, which refuses the shell, it says so and waits for a key. SeaBIOS
         * (on its debug port) tries the disk, CD and floppy, then gives up. */
        {.event = BOOT_EVENT_NO_BOOT,
         .needle = "Shell> ",
         .partial = true,
         .firmware = true,
         .what = "OVMF dropped to the UEFI shell"},
        {.event = BOOT_EVENT_NO_BOOT,
         .needle = "No bootable option or device was found",
         .firmware = true,
         .what = "OVMF found no bootable option or device"},
        {.event = BOOT_EVENT_NO_BOOT,
         .needle = "No bootable device.",
         .firmware = true,
         .what = "SeaBIOS found no bootable device"},
};

int boot_watch_init(BootWatch *w, const char *expect, char **ret_error) {
        *w = (BootWatch){};
        int r = regcomp(&w->expect, expect ? expect : BOOT_MARKER_READY, REG_EXTENDED | REG_NOSUB);
        if (r != 0) {
                char buf[256];
                regerror(r, &w->expect, buf, sizeof(buf));
                if (ret_error)
                        *ret_error = xstrdup(buf);
                return -EINVAL;
        }
        w->has_expect = true;
        return 0;
}

void boot_watch_done(BootWatch *w) {
        if (w->has_expect)
                regfree(&w->expect);
        free(w->pending);
        for (size_t i = 0; i < ELEMENTSOF(w->tail); i++)
                free(w->tail[i]);
        *w = (BootWatch){};
}

/* Checks one line (complete or not) and records the events in it. */
static void scan(BootWatch *w, const char *line, bool complete) {
        for (size_t i = 0; i < ELEMENTSOF(patterns); i++) {
                BootEvent e = patterns[i].event;
                if ((!complete && !patterns[i].partial) || w->seen[e] ||
                    (patterns[i].firmware && w->seen[BOOT_EVENT_KERNEL]) ||
                    !strstr(line, patterns[i].needle) ||
                    (patterns[i].unless && strstr(line, patterns[i].unless)))
                        continue;
                w->seen[e] = true;
                w->what[e] = patterns[i].what;
        }
        if (complete && !w->seen[BOOT_EVENT_READY] && regexec(&w->expect, line, 0, NULL, 0) == 0)
                w->seen[BOOT_EVENT_READY] = true;
}

static void remember(BootWatch *w, const char *line) {
        free(w->tail[w->tail_next]);
        w->tail[w->tail_next] = xstrdup(line);
        w->tail_next = (w->tail_next + 1) % ELEMENTSOF(w->tail);
}

/* Events are reported once each, in this order of importance. */
static const BootEvent order[] = {
        BOOT_EVENT_KERNEL,  BOOT_EVENT_PANIC,    BOOT_EVENT_EMERGENCY, BOOT_EVENT_FIRMWARE_DENIED,
        BOOT_EVENT_NO_BOOT, BOOT_EVENT_DEGRADED, BOOT_EVENT_READY};

BootEvent boot_watch_feed(BootWatch *w, const char *data, size_t size) {
        for (size_t i = 0; i < size; i++) {
                char c = data[i];
                unsigned char u = (unsigned char)c;
                /* Terminal escapes are dropped, even split across chunks: OVMF draws its
                 * screens with them ("Press \e[1mESC\e[0m in 5 seconds"). */
                if (w->escape == 1) {
                        w->escape = u == '[' ? 2 : 0; /* CSI, or a two-byte "ESC x" */
                        continue;
                }
                if (w->escape == 2) {
                        if (u >= 0x20 && u < 0x40)
                                continue; /* parameters */
                        w->escape = 0;
                        if (u >= 0x40 && u < 0x7f)
                                continue; /* the final byte */
                }
                if (c == '\033') {
                        w->escape = 1;
                        continue;
                }
                if (c == '\r' || c == 0)
                        continue;
                if (c == '\n' || w->pending_len >= 4096) {
                        /* A complete line (or a runaway one without newlines). */
                        w->pending = xrealloc(w->pending, w->pending_len + 1);
                        w->pending[w->pending_len] = 0;
                        scan(w, w->pending, true);
                        remember(w, w->pending);
                        w->pending_len = 0;
                        if (c == '\n')
                                continue;
                }
                w->pending = xrealloc(w->pending, w->pending_len + 2);
                w->pending[w->pending_len++] = c;
        }
        if (w->pending_len > 0) {
                w->pending[w->pending_len] = 0;
                scan(w, w->pending, false);
        }

        /* Hand out what was seen and not yet reported, one event per call. */
        for (size_t i = 0; i < ELEMENTSOF(order); i++)
                if (w->seen[order[i]] && !w->reported[order[i]]) {
                        w->reported[order[i]] = true;
                        return order[i];
                }
        return BOOT_EVENT_NONE;
}

char *boot_watch_tail(const BootWatch *w) {
        Buffer b = {};
        for (size_t i = 0; i < ELEMENTSOF(w->tail); i++) {
                const char *l = w->tail[(w->tail_next + i) % ELEMENTSOF(w->tail)];
                if (l)
                        buffer_printf(&b, "%s\n", l);
        }
        if (w->pending_len > 0)
                buffer_printf(&b, "%s\n", w->pending);
        return buffer_steal(&b);
}
