/* SPDX-License-Identifier: MIT */
/* OCI image layouts (image-spec v1.0/v1.1): index.json -> manifest -> config and layers, every
 * blob checked against its descriptor's size and SHA-256. The JSON documents are read with the
 * profile's YAML parser (JSON is YAML's flow style): no second parser in the program. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmcompose/containers.h"
#include "vmcompose/hash.h"
#include "vmcompose/util.h"

void oci_descriptor_done(OciDescriptor *d) {
        free(d->media_type);
        free(d->digest);
        *d = (OciDescriptor){};
}

void oci_image_done(OciImage *img) {
        free(img->name);
        free(img->ref);
        free(img->where);
        free(img->path);
        free(img->layout_dir);
        oci_descriptor_done(&img->manifest);
        oci_descriptor_done(&img->config);
        for (size_t i = 0; i < img->n_layers; i++)
                oci_descriptor_done(&img->layers[i]);
        free(img->layers);
        free(img->architecture);
        free(img->os);
        strv_free(img->run);
        *img = (OciImage){};
}

void oci_images_free(OciImage *images, size_t n) {
        for (size_t i = 0; i < n; i++)
                oci_image_done(&images[i]);
        free(images);
}

const char *oci_architecture_from_debian(const char *arch) {
        static const char *const map[][2] = {
                {"amd64", "amd64"},     {"arm64", "arm64"}, {"armhf", "arm"},       {"i386", "386"},
                {"ppc64el", "ppc64le"}, {"s390x", "s390x"}, {"riscv64", "riscv64"},
        };
        for (size_t i = 0; arch && i < ELEMENTSOF(map); i++)
                if (streq(map[i][0], arch))
                        return map[i][1];
        return NULL;
}

int oci_digest_check(const char *digest) {
        if (!digest || strncmp(digest, "sha256:", 7) != 0 || strlen(digest) != 7 + 64)
                return -EINVAL;
        for (const char *p = digest + 7; *p; p++)
                if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
                        return -EINVAL;
        return 0;
}

static int fail(char **ret_error, int r, const char *fmt, ...) _printf_(3, 4);
static int fail(char **ret_error, int r, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        char *s = NULL;
        if (vasprintf(&s, fmt, ap) < 0)
                abort();
        va_end(ap);
        free(*ret_error);
        *ret_error = s;
        return r;
}

/* A JSON string field: the scalar, NULL when absent or not a string. */
static const char *json_str(const Node *map, const char *key) {
        const Node *v = node_map_typed(map, key, NODE_SCALAR);
        return v && !v->plain ? v->scalar : NULL;
}

int oci_descriptor_parse(const Node *n, OciDescriptor *ret, char **ret_error) {
        if (!n || n->type != NODE_MAP)
                return fail(ret_error, -EBADMSG, "a descriptor is not a JSON object");
        const char *media = json_str(n, "mediaType"), *digest = json_str(n, "digest");
        const Node *size = node_map_typed(n, "size", NODE_SCALAR);
        uint64_t sz;
        if (!digest || oci_digest_check(digest) < 0)
                return fail(ret_error, -EBADMSG, "a descriptor's digest is not sha256:HEX (%s)",
                            digest ? digest : "missing");
        if (!size || !size->plain || parse_uint64(size->scalar, &sz) < 0)
                return fail(ret_error, -EBADMSG, "the descriptor of %s has no valid size", digest);
        *ret = (OciDescriptor){
                .media_type = media ? xstrdup(media) : NULL,
                .digest = xstrdup(digest),
                .size = sz,
        };
        return 0;
}

static int parse_json(const char *what, const char *json, size_t size, Node **ret,
                      char **ret_error) {
        Diagnostics diag = {};
        int r = node_parse_yaml(what, json, size, &diag, ret);
        if (r < 0) {
                r = fail(ret_error, -EBADMSG, "%s is not valid JSON: %s", what,
                         diag.messages && diag.messages[0] ? diag.messages[0] : "parse error");
                diag_done(&diag);
                return r;
        }
        diag_done(&diag);
        return 0;
}

static bool is_index_type(const char *t) {
        return t && (streq(t, OCI_MEDIA_TYPE_INDEX) || streq(t, DOCKER_MEDIA_TYPE_LIST));
}

int oci_index_find(const char *json, size_t size, const char *digest, OciDescriptor *ret,
                   char **ret_error) {
        _cleanup_(node_freep) Node *root = NULL;
        int r = parse_json("index.json", json, size, &root, ret_error);
        if (r < 0)
                return r;
        const Node *manifests = node_map_typed(root, "manifests", NODE_SEQ);
        if (!manifests)
                return fail(ret_error, -EBADMSG, "index.json has no manifests list");
        Buffer listed = {};
        for (size_t i = 0; i < manifests->n_items; i++) {
                OciDescriptor d = {};
                r = oci_descriptor_parse(manifests->items[i], &d, ret_error);
                if (r < 0) {
                        buffer_done(&listed);
                        return r;
                }
                if (!streq(d.digest, digest)) {
                        buffer_printf(&listed, "%s%s", listed.len ? ", " : "", d.digest);
                        oci_descriptor_done(&d);
                        continue;
                }
                buffer_done(&listed);
                if (is_index_type(d.media_type)) {
                        oci_descriptor_done(&d);
                        return fail(ret_error, -EBADMSG,
                                    "%s is an image index (several platforms): give the digest of "
                                    "the build architecture's manifest",
                                    digest);
                }
                *ret = d;
                return 0;
        }
        r = fail(ret_error, -ENOENT, "index.json does not list the manifest %s (it lists: %s)",
                 digest, listed.len ? listed.data : "none");
        buffer_done(&listed);
        return r;
}

int oci_manifest_parse(const char *json, size_t size, OciDescriptor *ret_config,
                       OciDescriptor **ret_layers, size_t *ret_n_layers, char **ret_error) {
        _cleanup_(node_freep) Node *root = NULL;
        int r = parse_json("the manifest", json, size, &root, ret_error);
        if (r < 0)
                return r;
        const char *media = json_str(root, "mediaType");
        if (media && is_index_type(media))
                return fail(ret_error, -EBADMSG, "the manifest is an image index, not an image");
        if (media && !streq(media, OCI_MEDIA_TYPE_MANIFEST) &&
            !streq(media, DOCKER_MEDIA_TYPE_MANIFEST))
                return fail(ret_error, -EBADMSG, "unknown manifest media type %s", media);
        const Node *layers = node_map_typed(root, "layers", NODE_SEQ);
        if (!layers)
                return fail(ret_error, -EBADMSG, "the manifest has no layers list");
        OciDescriptor config = {};
        r = oci_descriptor_parse(node_map_typed(root, "config", NODE_MAP), &config, ret_error);
        if (r < 0)
                return r;
        OciDescriptor *l = xcalloc(layers->n_items + 1, sizeof(OciDescriptor));
        for (size_t i = 0; i < layers->n_items; i++) {
                r = oci_descriptor_parse(layers->items[i], &l[i], ret_error);
                if (r < 0) {
                        for (size_t j = 0; j < i; j++)
                                oci_descriptor_done(&l[j]);
                        free(l);
                        oci_descriptor_done(&config);
                        return r;
                }
        }
        *ret_config = config;
        *ret_layers = l;
        *ret_n_layers = layers->n_items;
        return 0;
}

int oci_config_platform(const char *json, size_t size, char **ret_architecture, char **ret_os,
                        char **ret_error) {
        _cleanup_(node_freep) Node *root = NULL;
        int r = parse_json("the image config", json, size, &root, ret_error);
        if (r < 0)
                return r;
        const char *arch = json_str(root, "architecture"), *os = json_str(root, "os");
        if (!arch || !os)
                return fail(ret_error, -EBADMSG, "the image config has no architecture or os");
        *ret_architecture = xstrdup(arch);
        *ret_os = xstrdup(os);
        return 0;
}

int oci_blob_verify(int dir_fd, const OciDescriptor *d, char **ret_data, char **ret_error) {
        _cleanup_free_ char *rel = xasprintf("blobs/sha256/%s", d->digest + 7);
        _cleanup_close_ int fd = openat(dir_fd, rel, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return fail(ret_error, errno == ENOENT ? -ENOENT : -errno,
                            "blob %s: cannot open %s: %s", d->digest, rel, strerror(errno));
        struct stat st;
        if (fstat(fd, &st) < 0)
                return fail(ret_error, -errno, "blob %s: %s", d->digest, strerror(errno));
        if (!S_ISREG(st.st_mode))
                return fail(ret_error, -EBADMSG, "blob %s: %s is not a regular file", d->digest,
                            rel);
        if ((uint64_t)st.st_size != d->size)
                return fail(ret_error, -EBADMSG, "blob %s is %ju bytes, its descriptor says %ju%s",
                            d->digest, (uintmax_t)st.st_size, (uintmax_t)d->size,
                            (uint64_t)st.st_size < d->size ? " (truncated)" : "");
        if (ret_data && d->size > OCI_JSON_MAX)
                return fail(ret_error, -EFBIG,
                            "blob %s is %ju bytes, more than a manifest or "
                            "config may be",
                            d->digest, (uintmax_t)d->size);
        uint8_t md[SHA256_DIGEST_SIZE];
        char hex[2 * SHA256_DIGEST_SIZE + 1];
        int r = sha256_file(fd, md);
        if (r < 0)
                return fail(ret_error, r, "blob %s: %s", d->digest, strerror(-r));
        sha256_hex(md, hex);
        if (!streq(hex, d->digest + 7))
                return fail(ret_error, -EILSEQ,
                            "blob %s has the digest sha256:%s: its content "
                            "does not match",
                            d->digest, hex);
        if (ret_data) {
                size_t n;
                if (lseek(fd, 0, SEEK_SET) < 0 ||
                    (r = read_full_fd(fd, OCI_JSON_MAX, ret_data, &n)) < 0)
                        return fail(ret_error, r < 0 ? r : -errno, "blob %s: cannot read it",
                                    d->digest);
        }
        return 0;
}

int oci_layout_verify(const char *dir, const char *digest, const char *arch, OciImage *img,
                      char **ret_error) {
        _cleanup_close_ int dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir_fd < 0)
                return fail(ret_error, -errno, "%s: %s", dir, strerror(errno));
        _cleanup_free_ char *layout = NULL, *index = NULL, *manifest = NULL, *config = NULL;
        size_t n;
        _cleanup_free_ char *layout_path = path_join(dir, "oci-layout");
        int r = read_full_file(layout_path, 4096, &layout, &n);
        if (r < 0) {
                _cleanup_free_ char *docker = path_join(dir, "manifest.json");
                if (access(docker, F_OK) == 0)
                        return fail(ret_error, -EBADMSG,
                                    "%s is a Docker archive without an OCI "
                                    "layout (docker save before Docker 25): convert it with "
                                    "skopeo copy docker-archive:FILE oci-archive:FILE",
                                    img->path);
                return fail(ret_error, r, "%s is not an OCI image layout: no oci-layout file (%s)",
                            img->path, strerror(-r));
        }
        if (!strstr(layout, "\"imageLayoutVersion\""))
                return fail(ret_error, -EBADMSG, "%s: oci-layout has no imageLayoutVersion",
                            img->path);
        _cleanup_free_ char *index_path = path_join(dir, "index.json");
        r = read_full_file(index_path, OCI_JSON_MAX, &index, &n);
        if (r < 0)
                return fail(ret_error, r, "%s: cannot read index.json: %s", img->path,
                            strerror(-r));
        OciDescriptor md = {};
        r = oci_index_find(index, n, digest, &md, ret_error);
        if (r < 0)
                return r;
        img->manifest = md;
        r = oci_blob_verify(dir_fd, &img->manifest, &manifest, ret_error);
        if (r < 0)
                return r;
        r = oci_manifest_parse(manifest, strlen(manifest), &img->config, &img->layers,
                               &img->n_layers, ret_error);
        if (r < 0)
                return r;
        if (!img->manifest.media_type)
                img->manifest.media_type = xstrdup(OCI_MEDIA_TYPE_MANIFEST);
        r = oci_blob_verify(dir_fd, &img->config, &config, ret_error);
        if (r < 0)
                return r;
        r = oci_config_platform(config, strlen(config), &img->architecture, &img->os, ret_error);
        if (r < 0)
                return r;
        if (!streq(img->os, "linux") || !streq(img->architecture, arch))
                return fail(ret_error, -EXDEV, "the image is for %s/%s, the build is for linux/%s",
                            img->os, img->architecture, arch);
        for (size_t i = 0; i < img->n_layers; i++) {
                r = oci_blob_verify(dir_fd, &img->layers[i], NULL, ret_error);
                if (r < 0)
                        return r;
        }
        return 0;
}

char *oci_purl(const OciImage *img) {
        /* The repository is the reference without its tag; the purl's name is its last
         * component, lower case (purl-spec: oci). */
        _cleanup_free_ char *repo = xstrdup(img->ref);
        char *slash = strrchr(repo, '/'), *colon = strrchr(repo, ':');
        const char *tag = "latest";
        if (colon && (!slash || colon > slash)) {
                *colon = 0;
                tag = img->ref + (colon - repo) + 1;
        }
        const char *name = slash ? slash + 1 : repo;
        _cleanup_free_ char *lname = xstrdup(name);
        for (char *p = lname; *p; p++)
                if (*p >= 'A' && *p <= 'Z')
                        *p = (char)(*p - 'A' + 'a');
        _cleanup_free_ char *url = xstrdup(repo);
        return xasprintf("pkg:oci/%s@sha256%%3A%s?arch=%s&repository_url=%s&tag=%s", lname,
                         img->manifest.digest + 7, img->architecture, url, tag);
}
