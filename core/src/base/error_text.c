/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The error-message convention; see error_text.h. */
#include "error_text.h"

#include <stdarg.h>
#include <stdio.h>

void gridems_set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}
