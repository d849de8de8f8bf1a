/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Whole-file reading and atomic writing. Threads: any (no shared state). */
#ifndef GRIDEMS_FILE_UTIL_H
#define GRIDEMS_FILE_UTIL_H

#include <stddef.h>

/* Largest file gridems reads whole (scenarios, configs, state): larger is refused, not parsed. */
#define GRIDEMS_MAX_FILE_BYTES ((size_t)256 * 1024 * 1024)

/*
 * gridems_read_file: read path ("-" = stdin) into a NUL-terminated buffer.
 * Returns 0 and *data (caller frees with free()) and *len; GRIDEMS_ENOENT, GRIDEMS_EIO,
 * GRIDEMS_ETOOBIG (over GRIDEMS_MAX_FILE_BYTES) or GRIDEMS_ENOMEM.
 */
int gridems_read_file(const char *path, char **data, size_t *len);

/*
 * gridems_write_file_atomic: write len bytes to path so that a reader (or a restart after a
 * crash) sees either the old content or the new, never a mix: write a temporary file in the same
 * directory, fsync it, rename it over path, fsync the directory.
 * Returns 0 or GRIDEMS_EIO, with errno set to the first failure's cause (ENOSPC, EROFS, EISDIR...).
 */
int gridems_write_file_atomic(const char *path, const char *data, size_t len);

#endif
