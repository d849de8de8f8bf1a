/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The error-message convention of every host and optimizer function that takes
 * (char *err, size_t errlen): the reason is printed into err when the caller gave a buffer, cut
 * short to errlen bytes, and the function returns its error code itself. Part of gridems_base
 * (with errors.c), which both the optimizer library and the core link; plugins have their own
 * (they see only the public headers).
 *
 * Threads: any (writes only the caller's buffer).
 */
#ifndef GRIDEMS_ERROR_TEXT_H
#define GRIDEMS_ERROR_TEXT_H

#include <stddef.h>

/* printf into err (errlen bytes, NUL-terminated) unless err is NULL or errlen is 0. */
void gridems_set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
