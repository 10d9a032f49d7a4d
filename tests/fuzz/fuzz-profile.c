/* SPDX-License-Identifier: MIT */
/* Fuzz target for the profile loader: YAML parsing, schema validation, overlay merging and both
 * output formats, plus the size parser. Built with -fsanitize=fuzzer by `make fuzz`; otherwise
 * main() below replays a corpus (files or directories given as arguments) for ctest. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "vmcompose/profile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size > PROFILE_MAX_FILE_SIZE)
                return 0;
        char *text = xmalloc(size + 1);
        memcpy(text, data, size);
        text[size] = 0;

        uint64_t bytes;
        (void)parse_size(text, &bytes);

        Diagnostics diag = {};
        Profile p = {};
        const char *file = source_set_add(&p.sources, "fuzz.yaml");
        if (node_parse_yaml(file, text, size, &diag, &p.tree) == 0) {
                SchemaContext ctx = {.diag = &diag, .file = file, .base_dir = "."};
                if (schema_validate(&profile_schema, p.tree, &ctx) == 0) {
                        Node *merged = node_new(NODE_MAP, &p.tree->mark);
                        schema_merge(&profile_schema, merged, p.tree);
                        schema_merge(&profile_schema, merged, p.tree);
                        node_free(p.tree);
                        p.tree = merged;
                }
                free(profile_format_text(&p));
                free(profile_format_json(&p));
        }
        node_free(p.tree);
        p.tree = NULL;
        source_set_done(&p.sources);
        diag_done(&diag);
        free(text);
        return 0;
}

#ifdef FUZZ_REPLAY_MAIN
static int replay_file(const char *path) {
        char *data = NULL;
        size_t size;
        int r = read_full_file(path, 64u << 20, &data, &size);
        if (r < 0) {
                fprintf(stderr, "%s: %s\n", path, strerror(-r));
                return 1;
        }
        LLVMFuzzerTestOneInput((const uint8_t *)data, size);
        free(data);
        return 0;
}

int main(int argc, char *argv[]) {
        int failed = 0, n = 0;

        for (int i = 1; i < argc; i++) {
                struct stat st;
                if (stat(argv[i], &st) < 0) {
                        perror(argv[i]);
                        return 1;
                }
                if (!S_ISDIR(st.st_mode)) {
                        failed |= replay_file(argv[i]);
                        n++;
                        continue;
                }
                struct dirent **names;
                int k = scandir(argv[i], &names, NULL, alphasort);
                if (k < 0) {
                        perror(argv[i]);
                        return 1;
                }
                for (int j = 0; j < k; j++) {
                        if (names[j]->d_name[0] != '.') {
                                char *p = path_join(argv[i], names[j]->d_name);
                                failed |= replay_file(p);
                                free(p);
                                n++;
                        }
                        free(names[j]);
                }
                free(names);
        }
        printf("replayed %d inputs\n", n);
        return failed || n == 0;
}
#endif
