/* SPDX-License-Identifier: MIT */
/* Reading a serial console: what the boot did, line by line. */
#include <string.h>

#include "vmcompose/boottest.h"

static const struct {
        BootEvent event;
        const char *needle;
        bool partial; /* also matches an unfinished line: a prompt */
} patterns[] = {
        {BOOT_EVENT_KERNEL, "Linux version ", false},
        {BOOT_EVENT_DEGRADED, BOOT_MARKER_DEGRADED, false},
        {BOOT_EVENT_PANIC, "Kernel panic - not syncing", false},
        {BOOT_EVENT_EMERGENCY, "You are in emergency mode", false},
        {BOOT_EVENT_EMERGENCY, "Give root password for maintenance", true},
        {BOOT_EVENT_EMERGENCY, "Dropping to a shell!", false},
        {BOOT_EVENT_EMERGENCY, "(initramfs) ", true},
        {BOOT_EVENT_FIRMWARE_DENIED, "Access Denied", false},
        {BOOT_EVENT_FIRMWARE_DENIED, "Security Violation", false},
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
        for (size_t i = 0; i < ELEMENTSOF(patterns); i++)
                if ((complete || patterns[i].partial) && !w->seen[patterns[i].event] &&
                    strstr(line, patterns[i].needle))
                        w->seen[patterns[i].event] = true;
        if (complete && !w->seen[BOOT_EVENT_READY] && regexec(&w->expect, line, 0, NULL, 0) == 0)
                w->seen[BOOT_EVENT_READY] = true;
}

static void remember(BootWatch *w, const char *line) {
        free(w->tail[w->tail_next]);
        w->tail[w->tail_next] = xstrdup(line);
        w->tail_next = (w->tail_next + 1) % ELEMENTSOF(w->tail);
}

/* Events are reported once each, in this order of importance. */
static const BootEvent order[] = {BOOT_EVENT_KERNEL,    BOOT_EVENT_PANIC,
                                  BOOT_EVENT_EMERGENCY, BOOT_EVENT_FIRMWARE_DENIED,
                                  BOOT_EVENT_DEGRADED,  BOOT_EVENT_READY};

BootEvent boot_watch_feed(BootWatch *w, const char *data, size_t size) {
        for (size_t i = 0; i < size; i++) {
                char c = data[i];
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
