/* SPDX-License-Identifier: MIT */
/* The signed Release data: dates and the digests of every index. */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "vmcompose/repo.h"

void repo_release_done(RepoRelease *r) {
        free(r->origin);
        free(r->suite);
        free(r->codename);
        for (size_t i = 0; i < r->n_files; i++) {
                free(r->files[i].path);
                free(r->files[i].sha256);
        }
        free(r->files);
        *r = (RepoRelease){};
}

/* RFC 2822 dates as Release files write them: "Sat, 10 Jun 2023 08:53:19 UTC". */
static time_t parse_date(const char *s) {
        struct tm tm = {};
        const char *p = strchr(s, ',');
        p = p ? p + 1 : s;
        const char *end = strptime(p, " %d %b %Y %H:%M:%S", &tm);
        if (!end)
                return 0;
        end += strspn(end, " ");
        if (*end && strcmp(end, "UTC") != 0 && strcmp(end, "GMT") != 0 &&
            strcmp(end, "+0000") != 0 && strcmp(end, "Z") != 0)
                return 0; /* apt refuses other zones too */
        return timegm(&tm);
}

typedef struct ReleaseParse {
        RepoRelease *release;
        bool seen; /* only the first stanza counts */
} ReleaseParse;

static int release_stanza(const Deb822Field *f, size_t n, unsigned line, void *userdata) {
        ReleaseParse *p = userdata;
        RepoRelease *r = p->release;
        const char *v;

        (void)line;
        if (p->seen)
                return 0;
        p->seen = true;
        if ((v = deb822_get(f, n, "Origin")))
                r->origin = xstrdup(v);
        if ((v = deb822_get(f, n, "Suite")))
                r->suite = xstrdup(v);
        if ((v = deb822_get(f, n, "Codename")))
                r->codename = xstrdup(v);
        if ((v = deb822_get(f, n, "Date")))
                r->date = parse_date(v);
        if ((v = deb822_get(f, n, "Valid-Until")))
                r->valid_until = parse_date(v);
        if ((v = deb822_get(f, n, "Acquire-By-Hash")))
                r->by_hash = strcasecmp(v, "yes") == 0;
        if (!(v = deb822_get(f, n, "SHA256")))
                return -EBADMSG;
        /* Lines of "digest size path". */
        for (const char *c = v; *c;) {
                size_t len = strcspn(c, "\n");
                _cleanup_free_ char *l = xstrndup(c, len);
                c += len + (c[len] == '\n');
                char hash[65], path[1024];
                unsigned long long size;
                if (sscanf(l, "%64s %llu %1023s", hash, &size, path) != 3 || strlen(hash) != 64)
                        continue;
                r->files = xrealloc(r->files, (r->n_files + 1) * sizeof(*r->files));
                r->files[r->n_files++] = (struct RepoFile){
                        .path = xstrdup(path), .sha256 = xstrdup(hash), .size = size};
        }
        return 0;
}

int repo_release_parse(const char *text, RepoRelease *ret) {
        RepoRelease r = {};
        ReleaseParse p = {.release = &r};
        int k = deb822_parse(text, release_stanza, &p);
        if (k < 0 || r.n_files == 0) {
                repo_release_done(&r);
                return -EBADMSG;
        }
        *ret = r;
        return 0;
}

int repo_release_check_dates(const RepoRelease *r, const RepoSource *src, time_t now,
                             char **ret_error) {
        char when[64];
        if (src->check_valid_until && r->valid_until && now > r->valid_until) {
                struct tm tm;
                strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC",
                         gmtime_r(&r->valid_until, &tm));
                *ret_error = xasprintf("the Release file expired (Valid-Until %s)", when);
                return -EKEYEXPIRED;
        }
        /* apt allows some clock skew for Date; so do we: one hour. */
        if (src->check_date && r->date && r->date > now + 3600) {
                struct tm tm;
                strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", gmtime_r(&r->date, &tm));
                *ret_error = xasprintf("the Release file is dated in the future (%s)", when);
                return -ETIME;
        }
        return 0;
}
