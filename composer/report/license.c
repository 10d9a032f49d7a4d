/* SPDX-License-Identifier: MIT */
/* Licences from Debian's machine-readable copyright files (copyright-format 1.0, "DEP-5"),
 * as SPDX licence expressions. */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "vmcompose/repo.h"
#include "vmcompose/report.h"
#include "vmcompose/util.h"

/* Debian's short names (copyright-format 1.0, "License short name") and the SPDX identifiers
 * they stand for; "+" means "or any later version". Names that already are SPDX identifiers
 * are matched case-insensitively below. */
static const struct {
        const char *debian, *spdx;
} names[] = {
        {"GPL-1", "GPL-1.0-only"},
        {"GPL-1+", "GPL-1.0-or-later"},
        {"GPL-2", "GPL-2.0-only"},
        {"GPL-2+", "GPL-2.0-or-later"},
        {"GPL-3", "GPL-3.0-only"},
        {"GPL-3+", "GPL-3.0-or-later"},
        {"LGPL-2", "LGPL-2.0-only"},
        {"LGPL-2+", "LGPL-2.0-or-later"},
        {"LGPL-2.1", "LGPL-2.1-only"},
        {"LGPL-2.1+", "LGPL-2.1-or-later"},
        {"LGPL-3", "LGPL-3.0-only"},
        {"LGPL-3+", "LGPL-3.0-or-later"},
        {"AGPL-3", "AGPL-3.0-only"},
        {"AGPL-3+", "AGPL-3.0-or-later"},
        {"GFDL-1.2", "GFDL-1.2-only"},
        {"GFDL-1.2+", "GFDL-1.2-or-later"},
        {"GFDL-1.3", "GFDL-1.3-only"},
        {"GFDL-1.3+", "GFDL-1.3-or-later"},
        {"GFDL-NIV-1.2", "GFDL-1.2-no-invariants-only"},
        {"GFDL-NIV-1.3", "GFDL-1.3-no-invariants-only"},
        {"LGPL-2.0", "LGPL-2.0-only"},
        {"LGPL-3.0", "LGPL-3.0-only"},
        {"GPL-1.0", "GPL-1.0-only"},
        {"AGPL-3.0", "AGPL-3.0-only"},
        {"Expat", "MIT"},
        {"BSD-2-clause", "BSD-2-Clause"},
        {"BSD-3-clause", "BSD-3-Clause"},
        {"BSD-4-clause", "BSD-4-Clause"},
        {"Apache-2", "Apache-2.0"},
        {"Apache-2.0+", "Apache-2.0"},
        {"MPL-1.1", "MPL-1.1"},
        {"MPL-2", "MPL-2.0"},
        {"PSF-2", "PSF-2.0"},
        {"Python", "Python-2.0"},
        {"Artistic", "Artistic-1.0-Perl"},
        {"Artistic-2", "Artistic-2.0"},
        {"zlib", "Zlib"},
        {"Zlib", "Zlib"},
        {"ISC", "ISC"},
        {"CC0", "CC0-1.0"},
        {"CC0-1.0", "CC0-1.0"},
        {"BSL-1.0", "BSL-1.0"},
        {"Unicode-DFS-2016", "Unicode-DFS-2016"},
        {"OpenSSL", "OpenSSL"},
        {"SSLeay", "SSLeay-standalone"},
        {"X11", "X11"},
        {"MIT", "MIT"},
        {"curl", "curl"},
        {"FSFAP", "FSFAP"},
        {"FSFUL", "FSFUL"},
        {"FSFULLR", "FSFULLR"},
        {"0BSD", "0BSD"},
        {"Unlicense", "Unlicense"},
        {"WTFPL", "WTFPL"},
        {"Beerware", "Beerware"},
        {"BSD-2-Clause", "BSD-2-Clause"},
        {"BSD-3-Clause", "BSD-3-Clause"},
        {"MIT-0", "MIT-0"},
        {"Apache-2.0", "Apache-2.0"},
        {"MPL-2.0", "MPL-2.0"},
        {"GPL-2.0", "GPL-2.0-only"},
        {"GPL-2.0+", "GPL-2.0-or-later"},
        {"GPL-3.0", "GPL-3.0-only"},
        {"GPL-3.0+", "GPL-3.0-or-later"},
        {"LGPL-2.1-or-later", "LGPL-2.1-or-later"},
        {"GPL-2.0-or-later", "GPL-2.0-or-later"},
        {"GPL-2.0-only", "GPL-2.0-only"},
        {"GPL-3.0-or-later", "GPL-3.0-or-later"},
        {"GPL-3.0-only", "GPL-3.0-only"},
        {"LGPL-2.1-only", "LGPL-2.1-only"},
        {"Libpng", "Libpng"},
        {"libpng", "Libpng"},
        {"NTP", "NTP"},
        {"HPND", "HPND"},
        {"OLDAP-2.8", "OLDAP-2.8"},
        {"Sleepycat", "Sleepycat"},
        {"bzip2-1.0.6", "bzip2-1.0.6"},
        {"Info-ZIP", "Info-ZIP"},
        {"Ruby", "Ruby"},
        {"PHP-3.01", "PHP-3.01"},
};

static const char *lookup(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (strcasecmp(names[i].debian, name) == 0)
                        return names[i].spdx;
        return NULL;
}

const char *license_spdx_id(const char *debian_name) {
        static const struct {
                const char *only, *later;
        } gnu[] = {
                {"GPL-1.0-only", "GPL-1.0-or-later"},
                {"GPL-2.0-only", "GPL-2.0-or-later"},
                {"GPL-3.0-only", "GPL-3.0-or-later"},
                {"LGPL-2.0-only", "LGPL-2.0-or-later"},
                {"LGPL-2.1-only", "LGPL-2.1-or-later"},
                {"LGPL-3.0-only", "LGPL-3.0-or-later"},
                {"AGPL-3.0-only", "AGPL-3.0-or-later"},
                {"GFDL-1.2-only", "GFDL-1.2-or-later"},
                {"GFDL-1.3-only", "GFDL-1.3-or-later"},
                {"GFDL-1.2-no-invariants-only", "GFDL-1.2-no-invariants-or-later"},
                {"GFDL-1.3-no-invariants-only", "GFDL-1.3-no-invariants-or-later"},
        };
        const char *id = lookup(debian_name);
        size_t len = strlen(debian_name);

        if (id || len < 2 || debian_name[len - 1] != '+')
                return id;
        /* "LGPL-2.0+", "GFDL-NIV-1.3+": the "-only" identifier's "-or-later" twin. */
        _cleanup_free_ char *base = xstrndup(debian_name, len - 1);
        id = lookup(base);
        for (size_t i = 0; id && i < ELEMENTSOF(gnu); i++)
                if (streq(gnu[i].only, id))
                        return gnu[i].later;
        return NULL;
}

void license_info_done(LicenseInfo *l) {
        if (!l)
                return;
        free(l->expression);
        for (size_t i = 0; i < l->n_refs; i++) {
                free(l->refs[i].id);
                free(l->refs[i].name);
                free(l->refs[i].text);
        }
        free(l->refs);
        *l = (LicenseInfo){};
}

/* A LicenseRef- identifier: letters, digits, '.' and '-' only. */
static char *ref_id(const char *name) {
        char *id = xasprintf("LicenseRef-%s", name);
        for (char *c = id + strlen("LicenseRef-"); *c; c++)
                if (!isalnum((unsigned char)*c) && *c != '.' && *c != '-')
                        *c = '-';
        return id;
}

typedef struct Parse {
        LicenseInfo *info;
        const char *file;
        char **standalone_names, **standalone_texts; /* License paragraphs without Files */
        char **expressions;                          /* one per distinct Files licence */
        bool machine_readable, first;
} Parse;

static const char *add_ref(Parse *p, const char *name) {
        _cleanup_free_ char *id = ref_id(name);
        for (size_t i = 0; i < p->info->n_refs; i++)
                if (streq(p->info->refs[i].id, id))
                        return p->info->refs[i].id;
        p->info->refs = xrealloc(p->info->refs, (p->info->n_refs + 1) * sizeof(LicenseRef));
        p->info->refs[p->info->n_refs] = (LicenseRef){.id = TAKE_PTR(id), .name = xstrdup(name)};
        return p->info->refs[p->info->n_refs++].id;
}

/* Splits s at spaces and tabs; a comma is a word of its own. */
static char **split_words(const char *s) {
        char **words = NULL;
        for (const char *c = s; *c;) {
                c += strspn(c, " \t");
                if (*c == ',') {
                        strv_push(&words, xstrdup(","));
                        c++;
                        continue;
                }
                size_t len = strcspn(c, " \t,");
                if (len > 0)
                        strv_push(&words, xstrndup(c, len));
                c += len;
        }
        return words;
}

/* Turns the first line of a License field ("GPL-2+ or Artistic", "LGPL-2.1+ with OpenSSL
 * exception") into an SPDX expression. Exceptions become one LicenseRef: SPDX's WITH accepts
 * only its own list of exception identifiers. */
static char *convert_expression(Parse *p, const char *line) {
        _cleanup_strv_free_ char **words = split_words(line);
        Buffer out = {};
        bool need_op = false, comma = false;

        for (size_t i = 0; words && words[i]; i++) {
                const char *w = words[i];
                if (streq(w, ",")) {
                        comma = true;
                        continue;
                }
                if (strcasecmp(w, "and/or") == 0)
                        w = "or";
                if (strcasecmp(w, "or") == 0 || strcasecmp(w, "and") == 0) {
                        /* "A or B, and C": the comma closes "A or B" (SPDX's AND binds
                         * tighter than OR, so it needs the parentheses). */
                        if (comma && strcasecmp(w, "and") == 0 && out.data &&
                            strstr(out.data, " OR ")) {
                                char *t = xasprintf("(%s)", out.data);
                                free(out.data);
                                out = (Buffer){.data = t, .len = strlen(t), .cap = strlen(t) + 1};
                        }
                        comma = false;
                        if (need_op) {
                                buffer_printf(&out, "%s",
                                              strcasecmp(w, "or") == 0 ? " OR " : " AND ");
                                need_op = false;
                        }
                        continue;
                }
                comma = false;
                if (need_op) /* two names in a row: Debian's ", " list means AND */
                        buffer_printf(&out, "%s", " AND ");
                const char *next = words[i + 1];
                if (next && strcasecmp(next, "with") == 0) {
                        /* NAME with SOMETHING exception */
                        _cleanup_free_ char *whole = xstrdup(w);
                        size_t j = i + 1;
                        for (; words[j]; j++) {
                                char *t = xasprintf("%s-%s", whole, words[j]);
                                free(whole);
                                whole = t;
                                if (strcasecmp(words[j], "exception") == 0)
                                        break;
                        }
                        buffer_printf(&out, "%s", add_ref(p, whole));
                        i = words[j] ? j : j - 1;
                } else {
                        const char *id = license_spdx_id(w);
                        buffer_printf(&out, "%s", id ? id : add_ref(p, w));
                }
                need_op = true;
        }
        return out.data; /* NULL when the line held no name */
}

static int on_stanza(const Deb822Field *f, size_t n, unsigned line, void *userdata) {
        Parse *p = userdata;
        (void)line;

        if (p->first) {
                p->first = false;
                const char *format = deb822_get(f, n, "Format");
                p->machine_readable = format && (strstr(format, "copyright-format") ||
                                                 strstr(format, "dep5") || strstr(format, "DEP5"));
                if (!p->machine_readable)
                        return -ECANCELED; /* stop: free-form text */
                if (!deb822_get(f, n, "Files"))
                        return 0; /* a header paragraph; it may also carry a License */
        }
        const char *license = deb822_get(f, n, "License");
        if (!license)
                return 0;
        const char *nl = strchr(license, '\n');
        _cleanup_free_ char *first =
                xstrndup(license, nl ? (size_t)(nl - license) : strlen(license));
        if (!deb822_get(f, n, "Files")) {
                strv_push(&p->standalone_names, xstrdup(first));
                strv_push(&p->standalone_texts, xstrdup(nl ? nl + 1 : ""));
                return 0;
        }
        char *e = convert_expression(p, first);
        if (!e)
                return 0;
        if (strv_contains(p->expressions, e))
                free(e);
        else
                strv_push(&p->expressions, e);
        return 0;
}

int license_from_copyright(const char *text, const char *file, LicenseInfo *ret) {
        LicenseInfo info = {};
        Parse p = {.info = &info, .file = file, .first = true};
        int r;

        /* The machine-readable format starts with its Format: field; anything else is prose. */
        if (strncasecmp(text + strspn(text, " \t\r\n"), "Format:", 7) != 0) {
                *ret = info;
                return 0;
        }
        r = deb822_parse(text, on_stanza, &p);
        if (r < 0 && r != -ECANCELED) {
                strv_free(p.standalone_names);
                strv_free(p.standalone_texts);
                strv_free(p.expressions);
                license_info_done(&info);
                return r;
        }
        if (p.machine_readable && p.expressions) {
                Buffer b = {};
                size_t n = strv_length(p.expressions);
                for (size_t i = 0; i < n; i++) {
                        bool compound = n > 1 && strchr(p.expressions[i], ' ');
                        buffer_printf(&b, "%s%s%s%s", i ? " AND " : "", compound ? "(" : "",
                                      p.expressions[i], compound ? ")" : "");
                }
                info.expression = b.data;
        }
        /* Each LicenseRef carries the copyright file's own text for it, where it has one. */
        for (size_t i = 0; i < info.n_refs; i++) {
                LicenseRef *ref = &info.refs[i];
                for (size_t j = 0; p.standalone_names && p.standalone_names[j]; j++)
                        if (streq(p.standalone_names[j], ref->name) && *p.standalone_texts[j]) {
                                ref->text = xstrdup(p.standalone_texts[j]);
                                break;
                        }
                if (!ref->text)
                        ref->text = xasprintf("The licence named \"%s\" in %s.", ref->name, file);
        }
        strv_free(p.standalone_names);
        strv_free(p.standalone_texts);
        strv_free(p.expressions);
        *ret = info;
        return 0;
}
