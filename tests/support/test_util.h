/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Small helpers shared by the Check test executables. Test code only; single-threaded.
 */
#ifndef GRIDEMS_TEST_UTIL_H
#define GRIDEMS_TEST_UTIL_H

#include <stddef.h>

/* Read a whole file. Returns a NUL-terminated buffer the caller frees with free(), or NULL;
 * *len (may be NULL) receives its length. */
char *test_read_file(const char *path, size_t *len);

/* Write text to path, replacing it. Returns 0 or -1. */
int test_write_file(const char *path, const char *text);

/* Create a fresh private directory under $TMPDIR (or /tmp) named after tag. Returns a path the
 * caller frees with free(). Aborts the test on failure. */
char *test_make_tmpdir(const char *tag);

/* Remove a directory tree made by test_make_tmpdir (best effort). */
void test_remove_tree(const char *path);

/*
 * Run argv[0] with argv, stdin from /dev/null, capturing stdout and stderr into NUL-terminated
 * buffers (each may be NULL to discard; caller frees). Returns the exit status (0..255), or
 * 128+signal when killed by a signal, or -1 when it could not be started.
 */
int test_run_capture(char *const argv[], char **out, char **err);

/* Monotonic milliseconds. */
double test_now_ms(void);

/* Sleep for ms milliseconds (for bounded polling loops only, never as a synchronisation). */
void test_sleep_ms(int ms);

#endif
