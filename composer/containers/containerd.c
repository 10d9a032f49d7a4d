/* SPDX-License-Identifier: MIT */
/* containerd's metadata database (meta.db) for the baked-in images, in the schema of
 * containerd 1.6 (Debian 12 ships 1.6.20), as its metadata/ package reads and writes it:
 *
 *   v1/version                          dbVersion 3 (binary.PutVarint), so db.go's Init() runs
 *                                       no migration
 *   v1/NS/images/NAME/createdat|updatedat   time.Time.MarshalBinary() (boltutil/helpers.go)
 *   v1/NS/images/NAME/target/digest|mediatype|size  (images.go writeImage(); size a varint)
 *   v1/NS/content/blob/DIGEST/createdat|updatedat|size, labels/   (content.go writeInfo())
 *
 * The manifest's labels are the references containerd's garbage collector follows
 * (metadata/gc.go: every label under containerd.io/gc.ref.content): the ones `ctr images
 * import` sets through images.SetChildrenMappedLabels() and ChildGCLabels(),
 * containerd.io/gc.ref.content.config for the config and containerd.io/gc.ref.content.l.N for
 * layer N. The image record is the GC's root; a blob in the content store that meta.db does not
 * list is garbage. The blobs themselves are plain files the local content store
 * (content/local/store.go) finds by digest. Snapshots are not written: `ctr run` unpacks an
 * image that is not unpacked yet (cmd/ctr/commands/run/run_unix.go), at its first start. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmcompose/bolt.h"
#include "vmcompose/containers.h"
#include "vmcompose/endian.h"
#include "vmcompose/util.h"

#define CONTAINERD_DB_VERSION 3
#define GC_REF_CONTENT "containerd.io/gc.ref.content."

size_t containerd_varint(int64_t v, uint8_t out[static 10]) {
        uint64_t u = (uint64_t)v << 1;
        if (v < 0)
                u = ~u;
        size_t n = 0;
        while (u >= 0x80) {
                out[n++] = (uint8_t)(u | 0x80);
                u >>= 7;
        }
        out[n++] = (uint8_t)u;
        return n;
}

void containerd_time(uint64_t epoch, uint8_t out[static CONTAINERD_TIME_SIZE]) {
        /* Go's time.Time.MarshalBinary(), version 1: seconds since January 1 of year 1 and
         * nanoseconds, big-endian, then the zone offset in minutes, -1 for UTC. */
        uint64_t sec = epoch + 62135596800ull;
        out[0] = 1;
        put_be64(out + 1, sec);
        put_be32(out + 9, 0);
        put_be16(out + 13, 0xffff);
}

static int put_varint(BoltBucket *b, const char *key, uint64_t v) {
        uint8_t buf[10];
        if (v > INT64_MAX)
                return -EOVERFLOW;
        return bolt_bucket_put_str(b, key, buf, containerd_varint((int64_t)v, buf));
}

static int put_times(BoltBucket *b, uint64_t epoch) {
        uint8_t t[CONTAINERD_TIME_SIZE];
        containerd_time(epoch, t);
        int r = bolt_bucket_put_str(b, "createdat", t, sizeof(t));
        return r < 0 ? r : bolt_bucket_put_str(b, "updatedat", t, sizeof(t));
}

static int put_string(BoltBucket *b, const char *key, const char *value) {
        return bolt_bucket_put_str(b, key, value, strlen(value));
}

/* content/blob/DIGEST: the blob's record, with labels (NULL-terminated key, value pairs). */
static int put_blob(BoltBucket *blobs, const OciDescriptor *d, char **labels, uint64_t epoch) {
        BoltBucket *b, *l;
        int r = bolt_bucket_sub(blobs, d->digest, &b);
        if (r == 0)
                r = put_times(b, epoch);
        if (r == 0)
                r = put_varint(b, "size", d->size);
        if (r == 0 && labels && labels[0])
                r = bolt_bucket_sub(b, "labels", &l);
        for (char **p = labels; r == 0 && p && p[0]; p += 2)
                r = put_string(l, p[0], p[1]);
        return r;
}

static int put_image(BoltBucket *ns, const OciImage *img, uint64_t epoch) {
        BoltBucket *images, *image, *target, *content, *blobs;
        int r = bolt_bucket_sub(ns, "images", &images);
        if (r == 0)
                r = bolt_bucket_sub(images, img->ref, &image);
        if (r == 0)
                r = put_times(image, epoch);
        if (r == 0)
                r = bolt_bucket_sub(image, "target", &target);
        if (r == 0)
                r = put_string(target, "digest", img->manifest.digest);
        if (r == 0)
                r = put_string(target, "mediatype", img->manifest.media_type);
        if (r == 0)
                r = put_varint(target, "size", img->manifest.size);
        if (r == 0)
                r = bolt_bucket_sub(ns, "content", &content);
        if (r == 0)
                r = bolt_bucket_sub(content, "blob", &blobs);
        if (r < 0)
                return r;

        char **labels = NULL;
        strv_extend(&labels, GC_REF_CONTENT "config");
        strv_extend(&labels, img->config.digest);
        for (size_t i = 0; i < img->n_layers; i++) {
                strv_push(&labels, xasprintf(GC_REF_CONTENT "l.%zu", i));
                strv_extend(&labels, img->layers[i].digest);
        }
        r = put_blob(blobs, &img->manifest, labels, epoch);
        strv_free(labels);
        if (r == 0)
                r = put_blob(blobs, &img->config, NULL, epoch);
        for (size_t i = 0; r == 0 && i < img->n_layers; i++)
                r = put_blob(blobs, &img->layers[i], NULL, epoch);
        return r;
}

int containerd_meta_build(const OciImage *images, size_t n, uint64_t epoch, BoltBucket **ret) {
        _cleanup_(bolt_bucket_freep) BoltBucket *root = bolt_bucket_new();
        BoltBucket *v1, *ns;
        int r = bolt_bucket_sub(root, "v1", &v1);
        if (r == 0)
                r = put_varint(v1, "version", CONTAINERD_DB_VERSION);
        if (r == 0)
                r = bolt_bucket_sub(v1, CONTAINERD_NAMESPACE, &ns);
        for (size_t i = 0; r == 0 && i < n; i++)
                r = put_image(ns, &images[i], epoch);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(root);
        return 0;
}

static char *bytes_str(const uint8_t *p, size_t n) {
        return p ? xstrndup((const char *)p, n) : NULL;
}

int containerd_meta_images(const void *db, size_t size, char ***ret) {
        _cleanup_(bolt_bucket_freep) BoltBucket *root = NULL;
        int r = bolt_decode(db, size, &root);
        if (r < 0)
                return r;
        const BoltEntry *v1 = bolt_bucket_find(root, "v1");
        if (!v1 || !v1->bucket)
                return -ENOENT;
        char **list = NULL;
        for (size_t i = 0; i < v1->bucket->n_entries; i++) {
                const BoltEntry *ns = &v1->bucket->entries[i];
                const BoltEntry *images =
                        ns->bucket ? bolt_bucket_find(ns->bucket, "images") : NULL;
                for (size_t j = 0; images && images->bucket && j < images->bucket->n_entries; j++) {
                        const BoltEntry *img = &images->bucket->entries[j];
                        const BoltEntry *t =
                                img->bucket ? bolt_bucket_find(img->bucket, "target") : NULL;
                        const BoltEntry *dg = t ? bolt_bucket_find(t->bucket, "digest") : NULL;
                        _cleanup_free_ char *name = bytes_str(img->key, img->key_size);
                        _cleanup_free_ char *space = bytes_str(ns->key, ns->key_size);
                        _cleanup_free_ char *digest =
                                dg ? bytes_str(dg->value, dg->value_size) : NULL;
                        strv_push(&list, xasprintf("%s %s (namespace %s)", name,
                                                   digest ? digest : "(no target)", space));
                }
        }
        *ret = list;
        return 0;
}
