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
