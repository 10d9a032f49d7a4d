/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmcompose/macro.h"
#include "vmcompose/node.h"
#include "vmcompose/profile.h"

/* Container images baked into the image (the profile's containers:, composer/containers/). */

#define OCI_MEDIA_TYPE_INDEX "application/vnd.oci.image.index.v1+json"
#define OCI_MEDIA_TYPE_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define DOCKER_MEDIA_TYPE_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define DOCKER_MEDIA_TYPE_LIST "application/vnd.docker.distribution.manifest.list.v2+json"

/* The largest index, manifest or config vmcompose reads into memory. */
#define OCI_JSON_MAX (4u << 20)

/* An OCI content descriptor: what a blob is, its digest and size. */
typedef struct OciDescriptor {
        char *media_type;
        char *digest; /* "sha256:HEX" (64 lower-case hex digits) */
        uint64_t size;
} OciDescriptor;

void oci_descriptor_done(OciDescriptor *d);

/* One verified image. Strings are owned by it. */
typedef struct OciImage {
        char *name;       /* the container's name (containers[].name) */
        char *ref;        /* the image's name in containerd: "localhost/NAME:latest" */
        char *where;      /* "file:line" of the entry in the profile */
        char *path;       /* the layout directory or archive the profile names */
        char *layout_dir; /* the verified layout: path, or where the archive was unpacked */
        OciDescriptor manifest, config;
        OciDescriptor *layers;
        size_t n_layers;
        char *architecture, *os; /* the config's (OCI names: "amd64", "arm64") */
        char **run;              /* run: the container's arguments; NULL: not run at boot */
        bool run_set;            /* run: given (possibly empty: the image's own command) */
} OciImage;

void oci_image_done(OciImage *img);

/* The OCI (Go) name of a Debian architecture: amd64 -> amd64, armhf -> arm, i386 -> 386,
 * ppc64el -> ppc64le; NULL for one it does not know. */
const char *oci_architecture_from_debian(const char *arch);

/* Checks "sha256:" and 64 lower-case hex digits: 0 or -EINVAL. */
int oci_digest_check(const char *digest);

/* Parses a descriptor (a JSON object already parsed into n): mediaType, digest, size. 0, or
 * -EBADMSG with the reason in *ret_error (caller frees). */
int oci_descriptor_parse(const Node *n, OciDescriptor *ret, char **ret_error);

/* In an index.json's text: the descriptor of manifests[] whose digest is digest. 0; -ENOENT
 * when none is (the index's manifests are listed in *ret_error); -EBADMSG for malformed JSON
 * or descriptors, or when the descriptor names an image index (ret_error says why). */
int oci_index_find(const char *json, size_t size, const char *digest, OciDescriptor *ret,
                   char **ret_error);

/* An image manifest's text: its config and layer descriptors. 0 or -EBADMSG (ret_error). */
int oci_manifest_parse(const char *json, size_t size, OciDescriptor *ret_config,
                       OciDescriptor **ret_layers, size_t *ret_n_layers, char **ret_error);

/* An image config's architecture and os. 0 or -EBADMSG (ret_error). */
int oci_config_platform(const char *json, size_t size, char **ret_architecture, char **ret_os,
                        char **ret_error);

/* Checks blobs/sha256/HEX under the layout directory fd dir_fd against d: -ENOENT missing,
 * -EBADMSG when its size differs (truncated or longer), -EILSEQ when its SHA-256 differs; the
 * reason in *ret_error. With ret_data, the blob's bytes (at most OCI_JSON_MAX) too. */
int oci_blob_verify(int dir_fd, const OciDescriptor *d, char **ret_data, char **ret_error);

/* Verifies the image layout at dir: oci-layout, index.json listing digest, the manifest, its
 * config (whose architecture must be arch, an OCI name) and every layer, each blob's size and
 * SHA-256. Fills img's manifest, config, layers, architecture and os. 0 or a negative errno
 * with the reason in *ret_error (caller frees). */
int oci_layout_verify(const char *dir, const char *digest, const char *arch, OciImage *img,
                      char **ret_error);

/* The package URL of an image: pkg:oci/NAME@sha256%3AHEX?arch=ARCH&repository_url=REPO&tag=T
 * (purl-spec's oci type). */
char *oci_purl(const OciImage *img);

/* Reads and verifies the profile's n containers: entries (ProfileConfig.containers; paths are
 * already resolved against their profile files). arch is the build's Debian architecture;
 * tmp_dir is where OCI archives are unpacked. Errors are logged as
 * "file:line:col: containers[NAME]: ...". Returns 0 and the images in *ret (caller frees with
 * oci_images_free), or a negative errno. */
int containers_load(const ProfileContainer *list, size_t n, const char *arch, const char *tmp_dir,
                    OciImage **ret, size_t *ret_n);
void oci_images_free(OciImage *images, size_t n);

/* Writes the images into containerd's own store in the root at root_dir, so that containerd
 * lists them at its first start with no import: each blob (checked again against its digest)
 * in CONTAINERD_CONTENT_DIR/blobs/sha256/, and CONTAINERD_META_DB (containerd_meta_build()); a
 * unit for each image with run:. epoch: the records' creation time. Logs its errors. */
int containers_bake(const char *root_dir, const OciImage *images, size_t n, uint64_t epoch);

/* containerd's state in the image (its default root, /var/lib/containerd). */
#define CONTAINERD_ROOT "/var/lib/containerd"
#define CONTAINERD_CONTENT_DIR CONTAINERD_ROOT "/io.containerd.content.v1.content"
#define CONTAINERD_META_DIR CONTAINERD_ROOT "/io.containerd.metadata.v1.bolt"
#define CONTAINERD_META_DB CONTAINERD_META_DIR "/meta.db"
/* The namespace the images are recorded in: ctr's default, which the run: units use. */
#define CONTAINERD_NAMESPACE "default"
/* The page size of the meta.db vmcompose writes (bbolt reads it from the file). */
#define CONTAINERD_META_PAGE_SIZE 4096

typedef struct BoltBucket BoltBucket;

/* The tree of containerd 1.6's meta.db holding the images (composer/containers/containerd.c
 * says which keys and why): every image under CONTAINERD_NAMESPACE, its blobs with the garbage
 * collector's references, timestamps at epoch. 0 and *ret (free with bolt_bucket_free), or a
 * negative errno (-EOVERFLOW for a size Go's int64 cannot hold). */
int containerd_meta_build(const OciImage *images, size_t n, uint64_t epoch, BoltBucket **ret);

/* The images recorded in a meta.db file's bytes, "NAME DIGEST (namespace NS)" each (caller
 * frees with strv_free; NULL when there are none). -EBADMSG for a damaged file, -ENOENT for a
 * bbolt file that is not containerd's. */
int containerd_meta_images(const void *db, size_t size, char ***ret);

/* Go's encoding/binary.PutVarint (zig-zag, then 7 bits a byte): the bytes written to out. */
size_t containerd_varint(int64_t v, uint8_t out[static 10]);
/* Go's time.Time.MarshalBinary() of the UTC time epoch (seconds since 1970). */
#define CONTAINERD_TIME_SIZE 15
void containerd_time(uint64_t epoch, uint8_t out[static CONTAINERD_TIME_SIZE]);
