/* SPDX-License-Identifier: MIT */
/* OCI image layouts (composer/containers/oci.c): index.json and manifest parsing, the config's
 * platform, blob verification (size, SHA-256), a whole layout, the purl, and the images baked
 * into containerd's store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmcompose/containers.h"
#include "vmcompose/hash.h"
#include "vmcompose/util.h"

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"

static void test_digest_check(void **state) {
        (void)state;
        assert_int_equal(oci_digest_check(D1), 0);
        assert_int_equal(oci_digest_check("sha256:abc"), -EINVAL);
        assert_int_equal(
                oci_digest_check(
                        "sha512:1111111111111111111111111111111111111111111111111111111111111111"),
                -EINVAL);
        assert_int_equal(oci_digest_check("sha256:111111111111111111111111111111111111111111111111"
                                          "111111111111111A"),
                         -EINVAL);
        assert_string_equal(oci_architecture_from_debian("amd64"), "amd64");
        assert_string_equal(oci_architecture_from_debian("armhf"), "arm");
        assert_string_equal(oci_architecture_from_debian("ppc64el"), "ppc64le");
        assert_null(oci_architecture_from_debian("m68k"));
}

static void test_index_find(void **state) {
        (void)state;
        static const char index[] =
                "{\"schemaVersion\":2,\"manifests\":["
                "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" D1
                "\",\"size\":401,\"annotations\":{\"org.opencontainers.image.ref.name\":\"1\"}},"
                "{\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"digest\":\"" D2
                "\",\"size\":77}]}";
        OciDescriptor d = {};
        char *error = NULL;
        assert_int_equal(oci_index_find(index, strlen(index), D1, &d, &error), 0);
        assert_string_equal(d.digest, D1);
        assert_int_equal(d.size, 401);
        assert_string_equal(d.media_type, OCI_MEDIA_TYPE_MANIFEST);
        oci_descriptor_done(&d);
        /* An index of several platforms is not an image. */
        assert_int_equal(oci_index_find(index, strlen(index), D2, &d, &error), -EBADMSG);
        assert_non_null(strstr(error, "image index"));
        /* A digest it does not list: the error says which it does. */
        assert_int_equal(oci_index_find(index, strlen(index),
                                        "sha256:"
                                        "3333333333333333333333333333333333333333333333333333333333"
                                        "333333",
                                        &d, &error),
                         -ENOENT);
        assert_non_null(strstr(error, D1));
        /* Malformed: not JSON, no manifests, a size that is not a number. */
        assert_int_equal(oci_index_find("{\"manifests\": [", 15, D1, &d, &error), -EBADMSG);
        assert_int_equal(oci_index_find("{}", 2, D1, &d, &error), -EBADMSG);
        static const char badsize[] = "{\"manifests\":[{\"digest\":\"" D1 "\",\"size\":\"401\"}]}";
        assert_int_equal(oci_index_find(badsize, strlen(badsize), D1, &d, &error), -EBADMSG);
        assert_non_null(strstr(error, "size"));
        free(error);
}

static void test_manifest_parse(void **state) {
        (void)state;
        static const char manifest[] =
                "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
                "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":"
                "\"" D1 "\",\"size\":183},"
                "\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\","
                "\"digest\":\"" D2 "\",\"size\":1986560},{\"mediaType\":\"x\",\"digest\":\"" D1
                "\",\"size\":0}]}";
        OciDescriptor config = {}, *layers = NULL;
        size_t n = 0;
        char *error = NULL;
        assert_int_equal(
                oci_manifest_parse(manifest, strlen(manifest), &config, &layers, &n, &error), 0);
        assert_string_equal(config.digest, D1);
        assert_int_equal(config.size, 183);
        assert_int_equal(n, 2);
        assert_string_equal(layers[0].digest, D2);
        assert_int_equal(layers[0].size, 1986560);
        assert_int_equal(layers[1].size, 0);
        oci_descriptor_done(&config);
        for (size_t i = 0; i < n; i++)
                oci_descriptor_done(&layers[i]);
        free(layers);
        static const char index[] = "{\"mediaType\":\"application/vnd.oci.image.index.v1+json\","
                                    "\"manifests\":[]}";
        assert_int_equal(oci_manifest_parse(index, strlen(index), &config, &layers, &n, &error),
                         -EBADMSG);
        static const char nolayers[] = "{\"config\":{\"digest\":\"" D1 "\",\"size\":1}}";
        assert_int_equal(
                oci_manifest_parse(nolayers, strlen(nolayers), &config, &layers, &n, &error),
                -EBADMSG);
        free(error);
        error = NULL;

        char *arch = NULL, *os = NULL;
        static const char cfg[] = "{\"architecture\":\"arm64\",\"os\":\"linux\",\"config\":{}}";
        assert_int_equal(oci_config_platform(cfg, strlen(cfg), &arch, &os, &error), 0);
        assert_string_equal(arch, "arm64");
        assert_string_equal(os, "linux");
        free(arch);
        free(os);
        assert_int_equal(oci_config_platform("{\"os\":\"linux\"}", 14, &arch, &os, &error),
                         -EBADMSG);
        free(error);
}

/* Writes data as the blob it is in dir; returns its digest (caller frees). */
static char *put_blob(const char *dir, const char *data) {
        uint8_t md[SHA256_DIGEST_SIZE];
        char hex[2 * SHA256_DIGEST_SIZE + 1];
        sha256(data, strlen(data), md);
        sha256_hex(md, hex);
        char *path = xasprintf("%s/blobs/sha256/%s", dir, hex);
        assert_int_equal(write_file_atomic(path, data, strlen(data), 0644), 0);
        free(path);
        return xasprintf("sha256:%s", hex);
}

static void test_layout_verify(void **state) {
        (void)state;
        char dir[] = "/tmp/test-containers-XXXXXX";
        assert_non_null(mkdtemp(dir));
        char *blobs = xasprintf("%s/blobs/sha256", dir);
        assert_int_equal(mkdir_p(blobs), 0);
        char *layer = put_blob(dir, "layer bytes");
        char *cfg_text = xasprintf("{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{"
                                   "\"type\":\"layers\",\"diff_ids\":[\"%s\"]}}",
                                   layer);
        char *config = put_blob(dir, cfg_text);
        char *man_text = xasprintf(
                "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"c\",\"digest\":\"%s\",\"size\":"
                "%zu},\"layers\":[{\"mediaType\":\"l\",\"digest\":\"%s\",\"size\":11}]}",
                config, strlen(cfg_text), layer);
        char *manifest = put_blob(dir, man_text);
        char *index = xasprintf("{\"schemaVersion\":2,\"manifests\":[{\"digest\":\"%s\",\"size\":"
                                "%zu}]}",
                                manifest, strlen(man_text));
        char *p = xasprintf("%s/index.json", dir);
        assert_int_equal(write_file_atomic(p, index, strlen(index), 0644), 0);
        free(p);
        p = xasprintf("%s/oci-layout", dir);
        assert_int_equal(write_file_atomic(p, "{\"imageLayoutVersion\":\"1.0.0\"}", 30, 0644), 0);
        free(p);

        OciImage img = {
                .name = xstrdup("t"), .ref = xstrdup("localhost/t:1"), .path = xstrdup(dir)};
        char *error = NULL;
        int r = oci_layout_verify(dir, manifest, "amd64", &img, &error);
        if (r < 0)
                fail_msg("%s", error);
        assert_int_equal(img.n_layers, 1);
        assert_string_equal(img.layers[0].digest, layer);
        assert_string_equal(img.architecture, "amd64");

        /* The purl is purl-spec's oci. */
        char *purl = oci_purl(&img);
        char *want = xasprintf("pkg:oci/t@sha256%%3A%s?arch=amd64&repository_url=localhost/t&tag=1",
                               manifest + 7);
        assert_string_equal(purl, want);
        free(purl);
        free(want);
        oci_image_done(&img);

        /* Another architecture. */
        img = (OciImage){.path = xstrdup(dir)};
        assert_int_equal(oci_layout_verify(dir, manifest, "arm64", &img, &error), -EXDEV);
        assert_non_null(strstr(error, "linux/amd64, the build is for linux/arm64"));
        oci_image_done(&img);

        /* The layer altered (same size), then truncated, then gone. */
        p = xasprintf("%s/blobs/sha256/%s", dir, layer + 7);
        assert_int_equal(write_file_atomic(p, "LAYER bytes", 11, 0644), 0);
        img = (OciImage){.path = xstrdup(dir)};
        assert_int_equal(oci_layout_verify(dir, manifest, "amd64", &img, &error), -EILSEQ);
        assert_non_null(strstr(error, "does not match"));
        oci_image_done(&img);
        assert_int_equal(write_file_atomic(p, "layer", 5, 0644), 0);
        img = (OciImage){.path = xstrdup(dir)};
        assert_int_equal(oci_layout_verify(dir, manifest, "amd64", &img, &error), -EBADMSG);
        assert_non_null(strstr(error, "is 5 bytes, its descriptor says 11 (truncated)"));
        oci_image_done(&img);
        assert_int_equal(unlink(p), 0);
        img = (OciImage){.path = xstrdup(dir)};
        assert_int_equal(oci_layout_verify(dir, manifest, "amd64", &img, &error), -ENOENT);
        oci_image_done(&img);
        free(p);
        free(error);
        error = NULL;

        /* Baked into a root: the verified blobs in containerd's content store, its meta.db
         * recording the image, the run unit written and enabled (listing containerd's images
         * before it starts the container), run:'s arguments quoted for systemd ('%' and '$'
         * not substituted), and no import unit. */
        p = xasprintf("%s/blobs/sha256/%s", dir, layer + 7);
        assert_int_equal(write_file_atomic(p, "layer bytes", 11, 0644), 0);
        free(p);
        img = (OciImage){.name = xstrdup("t"),
                         .ref = xstrdup("localhost/t:1"),
                         .where = xstrdup("p.yaml:3"),
                         .path = xstrdup(dir),
                         .layout_dir = xstrdup(dir),
                         .run_set = true};
        assert_int_equal(oci_layout_verify(dir, manifest, "amd64", &img, &error), 0);
        strv_extend(&img.run, "echo");
        strv_extend(&img.run, "50% of \"$HOME\"");
        char *root = xasprintf("%s/root", dir), *ctr = xasprintf("%s/usr/bin/ctr", root);
        assert_int_equal(mkdir_parents(ctr), 0);
        assert_int_equal(write_file_atomic(ctr, "", 0, 0755), 0);
        assert_int_equal(containers_bake(root, &img, 1, 1700000000), 0);
        char *unit = NULL, *text = NULL;
        size_t n;
        unit = xasprintf("%s/etc/systemd/system/vmcompose-container-t.service", root);
        assert_int_equal(read_full_file(unit, 1 << 16, &text, &n), 0);
        assert_non_null(strstr(text, "ExecStart=/usr/bin/ctr --namespace default run --rm "
                                     "localhost/t:1 t \"echo\" \"50%% of \\\"$$HOME\\\"\"\n"));
        assert_non_null(strstr(text, "ExecStartPre=/usr/bin/ctr --namespace default images ls\n"));
        assert_non_null(strstr(text, "After=containerd.service\n"));
        assert_null(strstr(text, "import"));
        free(text);
        free(unit);
        /* Enabled: a link in multi-user.target.wants, as systemctl enable makes. */
        unit = xasprintf("%s/etc/systemd/system/multi-user.target.wants/"
                         "vmcompose-container-t.service",
                         root);
        char target[256] = "";
        assert_true(readlink(unit, target, sizeof(target) - 1) > 0);
        assert_string_equal(target, "/etc/systemd/system/vmcompose-container-t.service");
        free(unit);
        char *cmd = xasprintf("ls %s/etc/systemd/system | grep -c import", root);
        FILE *f = popen(cmd, "r");
        char listing[1024] = "";
        assert_non_null(fgets(listing, sizeof(listing), f));
        pclose(f);
        free(cmd);
        assert_string_equal(listing, "0\n");
        /* The blobs, read-only as containerd leaves them, byte for byte. */
        const char *digests[] = {manifest, config, layer};
        for (size_t i = 0; i < ELEMENTSOF(digests); i++) {
                char *src = xasprintf("%s/blobs/sha256/%s", dir, digests[i] + 7);
                char *dst = xasprintf("%s" CONTAINERD_CONTENT_DIR "/blobs/sha256/%s", root,
                                      digests[i] + 7);
                char *a = NULL, *b = NULL;
                size_t na, nb;
                assert_int_equal(read_full_file(src, 1 << 16, &a, &na), 0);
                assert_int_equal(read_full_file(dst, 1 << 16, &b, &nb), 0);
                assert_int_equal(na, nb);
                assert_memory_equal(a, b, na);
                struct stat st;
                assert_int_equal(stat(dst, &st), 0);
                assert_int_equal(st.st_mode & 07777, 0444);
                free(a);
                free(b);
                free(src);
                free(dst);
        }
        char *db_path = xasprintf("%s" CONTAINERD_META_DB, root), *db = NULL, **images = NULL;
        assert_int_equal(read_full_file(db_path, 1 << 20, &db, &n), 0);
        assert_int_equal(n % CONTAINERD_META_PAGE_SIZE, 0);
        assert_int_equal(containerd_meta_images(db, n, &images), 0);
        char *want_image = xasprintf("localhost/t:1 %s (namespace default)", manifest);
        assert_int_equal(strv_length(images), 1);
        assert_string_equal(images[0], want_image);
        free(want_image);
        strv_free(images);
        free(db);
        /* A root that already has a containerd database is refused, not merged into. */
        assert_int_equal(containers_bake(root, &img, 1, 1700000000), -EEXIST);
        free(db_path);
        free(ctr);
        free(root);
        oci_image_done(&img);
        free(error);

        cmd = xasprintf("rm -rf %s", dir);
        assert_int_equal(system(cmd), 0);
        free(cmd);
        free(blobs);
        free(layer);
        free(cfg_text);
        free(config);
        free(man_text);
        free(manifest);
        free(index);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_digest_check),
                cmocka_unit_test(test_index_find),
                cmocka_unit_test(test_manifest_parse),
                cmocka_unit_test(test_layout_verify),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
