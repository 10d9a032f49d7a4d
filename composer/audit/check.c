/* SPDX-License-Identifier: MIT */
/* The audit's verdict: an image's packages and files against policies, and the attack surface
 * summary. Pure: the image was read before (image.c). */
#include <fnmatch.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "vmcompose/audit.h"
#include "vmcompose/json.h"

static void add_finding(AuditReport *r, const char *kind, const char *subject, const char *package,
                        const char *rule) {
        r->findings = xrealloc(r->findings, (r->n_findings + 1) * sizeof(AuditFinding));
        r->findings[r->n_findings++] = (AuditFinding){
                .kind = xstrdup(kind),
                .subject = xstrdup(subject),
                .package = package ? xstrdup(package) : NULL,
                .rule = xstrdup(rule),
        };
}

static char *rule_text(const ProfilePolicy *policy, const ProfileValue *pattern) {
        return xasprintf("policy %s: %s (%s:%u)", policy->name, pattern->value, pattern->mark.file,
                         pattern->mark.line);
}

void audit_check(const AuditImage *img, const Profile *p, AuditReport *ret) {
        AuditReport r = {};

        for (size_t i = 0; i < p->n_policies; i++) {
                const ProfilePolicy *pol = &p->config.policy_rules[i];
                const ProfileList *pkgs = &pol->forbid_packages, *secs = &pol->forbid_sections;
                const ProfileList *paths = &pol->forbid_paths;
                for (size_t k = 0; k < img->n_packages; k++) {
                        const AuditPackage *pk = &img->packages[k];
                        for (size_t j = 0; j < pkgs->n; j++) {
                                const ProfileValue *pat = &pkgs->items[j];
                                if (fnmatch(pat->value, pk->name, 0) != 0)
                                        continue;
                                _cleanup_free_ char *rule = rule_text(pol, pat);
                                add_finding(&r, "forbidden-package", pk->name, pk->name, rule);
                                break;
                        }
                        for (size_t j = 0; pk->section && j < secs->n; j++) {
                                const ProfileValue *pat = &secs->items[j];
                                if (fnmatch(pat->value, pk->section, 0) != 0)
                                        continue;
                                _cleanup_free_ char *rule = rule_text(pol, pat);
                                _cleanup_free_ char *what =
                                        xasprintf("%s (section %s)", pk->name, pk->section);
                                add_finding(&r, "forbidden-section", what, pk->name, rule);
                                break;
                        }
                }
                for (size_t k = 0; paths->n > 0 && k < img->n_files; k++)
                        for (size_t j = 0; j < paths->n; j++) {
                                const ProfileValue *pat = &paths->items[j];
                                if (fnmatch(pat->value, img->files[k].path, 0) != 0)
                                        continue;
                                _cleanup_free_ char *rule = rule_text(pol, pat);
                                add_finding(&r, "forbidden-path", img->files[k].path,
                                            audit_owner(img, img->files[k].path), rule);
                                break;
                        }
        }

        for (size_t k = 0; k < img->n_packages; k++)
                r.installed_size += img->packages[k].installed_size;
        for (size_t k = 0; k < img->n_files; k++) {
                const AuditFile *f = &img->files[k];
                if (S_ISREG(f->mode) && (f->mode & (S_ISUID | S_ISGID)))
                        strv_push(&r.setuid,
                                  xasprintf("%s (%s%s%s, uid %u)", f->path,
                                            f->mode & S_ISUID ? "setuid" : "",
                                            (f->mode & S_ISUID) && (f->mode & S_ISGID) ? "+" : "",
                                            f->mode & S_ISGID ? "setgid" : "", f->uid));
                /* A sticky directory (/tmp) is writable by design; a symlink's mode means
                 * nothing. */
                if ((f->mode & S_IWOTH) && !S_ISLNK(f->mode) &&
                    !(S_ISDIR(f->mode) && (f->mode & S_ISVTX)))
                        strv_extend(&r.world_writable, f->path);
        }
        *ret = r;
}

void audit_report_done(AuditReport *r) {
        for (size_t i = 0; i < r->n_findings; i++) {
                free(r->findings[i].kind);
                free(r->findings[i].subject);
                free(r->findings[i].package);
                free(r->findings[i].rule);
        }
        free(r->findings);
        strv_free(r->setuid);
        strv_free(r->world_writable);
        *r = (AuditReport){};
}

char *audit_format_text(const char *image, const AuditImage *img, const AuditReport *r) {
        Buffer b = {};

        buffer_printf(&b, "%s: %s, %zu packages (%s), %.1f MiB installed, %zu paths\n", image,
                      img->os ?: "unknown", img->n_packages, img->package_format ?: "unknown",
                      (double)r->installed_size / (1 << 20), img->n_files);
        if (r->n_findings == 0)
                buffer_printf(&b, "policy: clean\n");
        else
                buffer_printf(&b, "policy: %zu violation%s\n", r->n_findings,
                              r->n_findings == 1 ? "" : "s");
        for (size_t i = 0; i < r->n_findings; i++) {
                const AuditFinding *f = &r->findings[i];
                buffer_printf(&b, "  %s: %s", f->kind, f->subject);
                if (f->package && !streq(f->kind, "forbidden-package") &&
                    !streq(f->kind, "forbidden-section"))
                        buffer_printf(&b, " (package %s)", f->package);
                buffer_printf(&b, ", forbidden by %s\n", f->rule);
        }
        buffer_printf(&b, "setuid/setgid files: %zu\n", strv_length(r->setuid));
        for (char **s = r->setuid; s && *s; s++)
                buffer_printf(&b, "  %s\n", *s);
        buffer_printf(&b, "world-writable: %zu\n", strv_length(r->world_writable));
        for (char **s = r->world_writable; s && *s; s++)
                buffer_printf(&b, "  %s\n", *s);
        buffer_printf(&b, "units enabled at boot: %zu\n", strv_length(img->enabled));
        for (char **s = img->enabled; s && *s; s++)
                buffer_printf(&b, "  %s\n", *s);
        buffer_printf(&b, "listening on the network when booted: %zu\n",
                      strv_length(img->listening));
        for (char **s = img->listening; s && *s; s++)
                buffer_printf(&b, "  %s\n", *s);
        buffer_printf(&b, "container runtime sockets: %zu\n", strv_length(img->runtime_sockets));
        for (char **s = img->runtime_sockets; s && *s; s++)
                buffer_printf(&b, "  %s\n", *s);
        buffer_printf(&b, "baked-in container images: %zu\n", strv_length(img->container_images));
        for (char **s = img->container_images; s && *s; s++)
                buffer_printf(&b, "  %s\n", *s);
        return b.data;
}

static void string_list(JsonWriter *w, const char *key, char **l) {
        json_key(w, key);
        json_begin_array(w);
        for (char **s = l; s && *s; s++)
                json_string(w, *s);
        json_end_array(w);
}

char *audit_format_json(const char *image, const AuditImage *img, const AuditReport *r) {
        JsonWriter w = {.pretty = true};

        json_begin_object(&w);
        json_kv(&w, "image", image);
        json_kv(&w, "os", img->os);
        json_kv(&w, "package-format", img->package_format);
        json_key(&w, "clean");
        json_bool(&w, r->n_findings == 0);
        json_key(&w, "violations");
        json_begin_array(&w);
        for (size_t i = 0; i < r->n_findings; i++) {
                const AuditFinding *f = &r->findings[i];
                json_begin_object(&w);
                json_key(&w, "kind");
                json_string(&w, f->kind);
                json_key(&w, "subject");
                json_string(&w, f->subject);
                json_kv(&w, "package", f->package);
                json_key(&w, "rule");
                json_string(&w, f->rule);
                json_end_object(&w);
        }
        json_end_array(&w);
        json_key(&w, "surface");
        json_begin_object(&w);
        json_key(&w, "packages");
        json_uint(&w, img->n_packages);
        json_key(&w, "installed-size");
        json_uint(&w, r->installed_size);
        json_key(&w, "paths");
        json_uint(&w, img->n_files);
        string_list(&w, "setuid", r->setuid);
        string_list(&w, "world-writable", r->world_writable);
        string_list(&w, "enabled-units", img->enabled);
        string_list(&w, "listening", img->listening);
        string_list(&w, "container-runtime-sockets", img->runtime_sockets);
        string_list(&w, "container-images", img->container_images);
        json_end_object(&w);
        json_key(&w, "packages");
        json_begin_array(&w);
        for (size_t i = 0; i < img->n_packages; i++) {
                json_begin_object(&w);
                json_kv(&w, "name", img->packages[i].name);
                json_kv(&w, "version", img->packages[i].version);
                json_kv(&w, "architecture", img->packages[i].architecture);
                json_end_object(&w);
        }
        json_end_array(&w);
        json_end_object(&w);
        return json_finish(&w);
}
