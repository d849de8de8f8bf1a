/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Reading back the files of state_dir; see state_reader.h. */
#include "state_reader.h"

#include <stdarg.h>
#include <stdio.h>

#include "gridems/errors.h"
#include "json_strict.h"

int gridems_state_reader_fail(const state_reader_t *r, int code, const char *path, const char *fmt,
                              ...)
{
    if (r->err != NULL && r->errlen > 0) {
        char msg[384];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        if (path != NULL && path[0] != '\0') {
            snprintf(r->err, r->errlen, "%s: %s: %s", r->name, path, msg);
        } else {
            snprintf(r->err, r->errlen, "%s: %s", r->name, msg);
        }
    }
    return code;
}

int gridems_state_reader_parse(const state_reader_t *r, const char *text, size_t len, cJSON **root)
{
    *root = NULL;
    if (text == NULL || len == 0) {
        return gridems_state_reader_fail(r, GRIDEMS_EPARSE, NULL, "empty file (not JSON)");
    }
    char why[256];
    int rc = gridems_json_parse_strict(text, len, root, why, sizeof why);
    return rc == 0 ? 0 : gridems_state_reader_fail(r, rc, NULL, "%s", why);
}
