/* SPDX-License-Identifier: MIT */
/* deb822 (RFC 822-style) stanzas: Release files, .sources files. */
#include <string.h>
#include <strings.h>

#include "vmcompose/repo.h"

const char *deb822_get(const Deb822Field *fields, size_t n, const char *name) {
        for (size_t i = 0; i < n; i++)
                if (strcasecmp(fields[i].name, name) == 0)
                        return fields[i].value;
        return NULL;
}

static void free_fields(Deb822Field *f, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(f[i].name);
                free(f[i].value);
        }
}

static char *trim(const char *s, size_t len) {
        while (len > 0 && (*s == ' ' || *s == '\t')) {
                s++;
                len--;
        }
        while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\r'))
                len--;
        return xstrndup(s, len);
}

int deb822_parse(const char *text,
                 int (*fn)(const Deb822Field *fields, size_t n, unsigned first_line,
                           void *userdata),
                 void *userdata) {
        Deb822Field *f = NULL;
        size_t n = 0;
        unsigned line = 0, first = 0;
        int r = 0;

        for (const char *p = text; r >= 0;) {
                const char *nl = strchr(p, '\n');
                size_t len = nl ? (size_t)(nl - p) : strlen(p);
                bool end = !nl && len == 0;
                line++;

                bool blank = true;
                for (size_t i = 0; i < len && blank; i++)
                        blank = p[i] == ' ' || p[i] == '\t' || p[i] == '\r';

                if (end || blank) {
                        if (n > 0)
                                r = fn(f, n, first, userdata);
                        free_fields(f, n);
                        n = 0;
                        if (end)
                                break;
                } else if (p[0] == '#') {
                        /* a comment */
                } else if ((p[0] == ' ' || p[0] == '\t') && n > 0) {
                        /* A continuation line; " ." stands for an empty line. */
                        _cleanup_free_ char *t = trim(p, len);
                        Deb822Field *last = &f[n - 1];
                        char *v = xasprintf("%s%s%s", last->value, *last->value ? "\n" : "",
                                            streq(t, ".") ? "" : t);
                        free(last->value);
                        last->value = v;
                } else {
                        const char *colon = memchr(p, ':', len);
                        if (!colon) {
                                r = -EBADMSG; /* neither field nor continuation */
                                free_fields(f, n);
                                n = 0;
                                break;
                        }
                        if (n == 0)
                                first = line;
                        f = xrealloc(f, (n + 1) * sizeof(Deb822Field));
                        f[n].name = trim(p, (size_t)(colon - p));
                        f[n].value = trim(colon + 1, len - (size_t)(colon - p) - 1);
                        f[n].line = line;
                        n++;
                }
                if (!nl)
                        p += len;
                else
                        p = nl + 1;
        }
        free_fields(f, n);
        free(f);
        return r < 0 ? r : 0;
}
