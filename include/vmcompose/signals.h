/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>

/* SIGINT, SIGTERM and SIGHUP end a build cleanly: the handler only records the signal; long
 * operations check signals_interrupted() and return -EINTR, so that every cleanup path (child
 * processes, temporary files) runs as on any other failure. */
void signals_install(void);
bool signals_interrupted(void);
/* The signal that interrupted us, or 0. */
int signals_received(void);

/* Removes path and everything below it, never following symlinks nor leaving its filesystem:
 * the files from a few threads at once (a root tree of thousands), then the directories. 0 or
 * a negative errno; a missing path is not an error. Not async-signal-safe. */
int rm_rf(const char *path);
