/* SPDX-License-Identifier: MIT */
/* Fuzz target for the deb822 texts vmcompose reads from outside: Packages stanzas (the index
 * loader), Release files, apt .sources and one-line .list files, and copyright files (the SBOM's
 * licences). Built with -fsanitize=fuzzer by `make fuzz`; otherwise replay.c replays the corpus. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../composer/resolve/resolve-internal.h"
#include "vmcompose/repo.h"
#include "vmcompose/report.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size > (1u << 20))
                return 0;
        char *text = xmalloc(size + 1);
        memcpy(text, data, size);
        text[size] = 0;

        DebIndex index = {};
        (void)deb_index_load(&index, text, size);
        (void)deb_index_find(&index, "bash", "5.2.15-2+b2", "amd64");
        deb_index_done(&index);

        RepoRelease rel = {};
        if (repo_release_parse(text, &rel) == 0)
                repo_release_done(&rel);

        AptSettings apt = {.check_valid_until = true, .check_date = true};
        apt_settings_parse(text, &apt);
        RepoSources sources = {};
        (void)repo_sources_parse_deb822(text, "fuzz.sources", &apt, &sources);
        (void)repo_sources_parse_list(text, "fuzz.list", &apt, &sources);
        repo_sources_done(&sources);

        LicenseInfo lic = {};
        if (license_from_copyright(text, "/usr/share/doc/fuzz/copyright", &lic) == 0)
                license_info_done(&lic);

        free(text);
        return 0;
}
