/* SPDX-License-Identifier: MIT */
/* NAME.spdx.json: an SPDX 2.3 SBOM of the image (SPDX specification 2.3, JSON serialisation):
 * one package for the image, one per installed package, with purls, checksums, licences and
 * the dependency relationships between them. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "vmcompose/hash.h"
#include "vmcompose/json.h"
#include "vmcompose/report.h"

char *sbom_deb_purl(const char *name, const char *version, const char *arch, const char *distro) {
        Buffer b = {};
        buffer_printf(&b, "pkg:deb/debian/%s@", name);
        /* The purl specification: percent-encode what is not unreserved. */
        for (const unsigned char *c = (const unsigned char *)version; *c; c++) {
                if (isalnum(*c) || *c == '.' || *c == '-' || *c == '_' || *c == '~')
                        buffer_printf(&b, "%c", *c);
                else
                        buffer_printf(&b, "%%%02X", *c);
        }
        buffer_printf(&b, "?arch=%s", arch);
        if (distro)
                buffer_printf(&b, "&distro=%s", distro);
        return b.data;
}

/* SPDXRef-deb-NAME-HASH: SPDX identifiers allow letters, digits, '.' and '-'; the hash keeps
 * names that differ only in other characters ("libfoo+" and "libfoo-") apart. */
static char *package_id(const char *kind, const char *name) {
        uint8_t d[SHA256_DIGEST_SIZE];
        char hex[2 * SHA256_DIGEST_SIZE + 1];
        sha256(name, strlen(name), d);
        sha256_hex(d, hex);
        char *id = xasprintf("SPDXRef-%s-%s-%.8s", kind, name, hex);
        for (char *c = id + strlen("SPDXRef-") + strlen(kind) + 1; *c; c++)
                if (!isalnum((unsigned char)*c) && *c != '.' && *c != '-')
                        *c = '-';
        return id;
}

static void relationship(JsonWriter *w, const char *a, const char *type, const char *b) {
        json_begin_object(w);
        json_kv(w, "spdxElementId", a);
        json_kv(w, "relationshipType", type);
        json_kv(w, "relatedSpdxElement", b);
        json_end_object(w);
}

char *sbom_spdx_json(const SbomInput *in) {
        JsonWriter w = {.pretty = true};
        char created[32], hex[2 * SHA256_DIGEST_SIZE + 1];
        uint8_t d[SHA256_DIGEST_SIZE];
        time_t t = (time_t)in->created;
        struct tm tm;

        gmtime_r(&t, &tm);
        strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", &tm);

        /* The namespace: unique per image content, the same for the same content. */
        Sha256 *h = sha256_new();
        sha256_update(h, in->namespace_seed, strlen(in->namespace_seed) + 1);
        for (size_t i = 0; i < in->n_packages; i++) {
                const SbomPackage *p = &in->packages[i];
                sha256_update(h, p->name, strlen(p->name) + 1);
                sha256_update(h, p->version, strlen(p->version) + 1);
        }
        sha256_finish(h, d);
        sha256_hex(d, hex);

        char **ids = xcalloc(in->n_packages + 1, sizeof(char *));
        for (size_t i = 0; i < in->n_packages; i++)
                ids[i] = package_id(in->packages[i].purl ? "oci" : "deb", in->packages[i].name);

        json_begin_object(&w);
        json_kv(&w, "spdxVersion", "SPDX-2.3");
        json_kv(&w, "dataLicense", "CC0-1.0");
        json_kv(&w, "SPDXID", "SPDXRef-DOCUMENT");
        json_kv(&w, "name", in->image_name);
        _cleanup_free_ char *ns =
                xasprintf("https://spdx.org/spdxdocs/vmcompose/%s-%s", in->image_name, hex);
        json_kv(&w, "documentNamespace", ns);
        json_key(&w, "creationInfo");
        json_begin_object(&w);
        json_kv(&w, "created", created);
        json_key(&w, "creators");
        json_begin_array(&w);
        _cleanup_free_ char *tool = xasprintf("Tool: %s", in->tool);
        json_string(&w, tool);
        json_end_array(&w);
        json_end_object(&w);
        json_key(&w, "documentDescribes");
        json_begin_array(&w);
        json_string(&w, "SPDXRef-Image");
        json_end_array(&w);

        json_key(&w, "packages");
        json_begin_array(&w);
        json_begin_object(&w);
        json_kv(&w, "SPDXID", "SPDXRef-Image");
        json_kv(&w, "name", in->image_name);
        json_kv(&w, "downloadLocation", "NOASSERTION");
        json_key(&w, "filesAnalyzed");
        json_bool(&w, false);
        json_kv(&w, "primaryPackagePurpose", "OPERATING-SYSTEM");
        json_kv(&w, "licenseConcluded", "NOASSERTION");
        json_kv(&w, "licenseDeclared", "NOASSERTION");
        json_kv(&w, "copyrightText", "NOASSERTION");
        _cleanup_free_ char *comment = xasprintf("The disk image built by %s.", in->tool);
        json_kv(&w, "comment", comment);
        json_end_object(&w);
        for (size_t i = 0; i < in->n_packages; i++) {
                const SbomPackage *p = &in->packages[i];
                json_begin_object(&w);
                json_kv(&w, "SPDXID", ids[i]);
                json_kv(&w, "name", p->name);
                json_kv(&w, "versionInfo", p->version);
                json_kv(&w, "supplier", p->supplier ? p->supplier : "Organization: Debian");
                json_kv(&w, "downloadLocation", p->download ? p->download : "NOASSERTION");
                json_key(&w, "filesAnalyzed");
                json_bool(&w, false);
                if (p->sha256) {
                        json_key(&w, "checksums");
                        json_begin_array(&w);
                        json_begin_object(&w);
                        json_kv(&w, "algorithm", "SHA256");
                        json_kv(&w, "checksumValue", p->sha256);
                        json_end_object(&w);
                        json_end_array(&w);
                }
                if (p->purpose)
                        json_kv(&w, "primaryPackagePurpose", p->purpose);
                if (p->comment)
                        json_kv(&w, "comment", p->comment);
                if (p->source) {
                        _cleanup_free_ char *si =
                                xasprintf("built from the Debian source package %s", p->source);
                        json_kv(&w, "sourceInfo", si);
                }
                json_kv(&w, "licenseConcluded", "NOASSERTION");
                json_kv(&w, "licenseDeclared",
                        p->license && p->license->expression ? p->license->expression
                                                             : "NOASSERTION");
                json_kv(&w, "copyrightText", "NOASSERTION");
                json_key(&w, "externalRefs");
                json_begin_array(&w);
                json_begin_object(&w);
                json_kv(&w, "referenceCategory", "PACKAGE-MANAGER");
                json_kv(&w, "referenceType", "purl");
                _cleanup_free_ char *purl =
                        p->purl ? xstrdup(p->purl)
                                : in->purl(p->name, p->version, p->architecture, in->distro);
                json_kv(&w, "referenceLocator", purl);
                json_end_object(&w);
                json_end_array(&w);
                json_end_object(&w);
        }
        json_end_array(&w);

        /* Every LicenseRef- once, with the text its copyright file gives. */
        char **seen = NULL;
        json_key(&w, "hasExtractedLicensingInfos");
        json_begin_array(&w);
        for (size_t i = 0; i < in->n_packages; i++) {
                const LicenseInfo *l = in->packages[i].license;
                if (!l || !l->expression)
                        continue;
                for (size_t j = 0; j < l->n_refs; j++) {
                        if (strv_contains(seen, l->refs[j].id) ||
                            !strstr(l->expression, l->refs[j].id))
                                continue;
                        strv_extend(&seen, l->refs[j].id);
                        json_begin_object(&w);
                        json_kv(&w, "licenseId", l->refs[j].id);
                        json_kv(&w, "name", l->refs[j].name);
                        json_kv(&w, "extractedText", l->refs[j].text);
                        json_end_object(&w);
                }
        }
        json_end_array(&w);
        strv_free(seen);

        json_key(&w, "relationships");
        json_begin_array(&w);
        relationship(&w, "SPDXRef-DOCUMENT", "DESCRIBES", "SPDXRef-Image");
        for (size_t i = 0; i < in->n_packages; i++)
                relationship(&w, "SPDXRef-Image", "CONTAINS", ids[i]);
        for (size_t i = 0; i < in->n_packages; i++)
                for (char *const *dep = in->packages[i].depends; dep && *dep; dep++)
                        for (size_t j = 0; j < in->n_packages; j++)
                                if (streq(in->packages[j].name, *dep)) {
                                        relationship(&w, ids[i], "DEPENDS_ON", ids[j]);
                                        break;
                                }
        json_end_array(&w);
        json_end_object(&w);

        strv_free(ids);
        return json_finish(&w);
}
