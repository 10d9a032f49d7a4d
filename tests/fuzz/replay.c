/* SPDX-License-Identifier: MIT */
/* The replay main() of every fuzz target when it is not built with -fsanitize=fuzzer: runs the
 * target over a corpus (files or directories given as arguments), for ctest. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "vmcompose/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
