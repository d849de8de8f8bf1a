/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Reading a JSON config document and its sections; see config_reader.h. */
#include "config_reader.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gridems/errors.h"
#include "optimizer_internal.h"

/* ---- ## Errors and paths ---- */

static int vfail(gridems_cfg_t *c, int code, const char *path, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

static int vfail(gridems_cfg_t *c, int code, const char *path, const char *fmt, va_list ap)
{
    if (c->err != NULL && c->errlen > 0) {
        char msg[512];
        vsnprintf(msg, sizeof msg, fmt, ap);
        snprintf(c->err, c->errlen, "%s: %s", path[0] != '\0' ? path : "config", msg);
    }
    return code;
}

__attribute__((format(printf, 3, 4))) int gridems_cfg_fail(gridems_cfg_t *c, const char *path,
                                                           const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vfail(c, GRIDEMS_ECONFIG, path, fmt, ap);
    va_end(ap);
    return rc;
}

/* As gridems_cfg_fail(), with another code (GRIDEMS_EPARSE, GRIDEMS_ETOOBIG). */
__attribute__((format(printf, 4, 5))) int
gridems_cfg_fail_code(gridems_cfg_t *c, int code, const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vfail(c, code, path, fmt, ap);
    va_end(ap);
    return rc;
}

int gridems_cfg_oom(gridems_cfg_t *c)
{
    if (c->err != NULL && c->errlen > 0) {
        snprintf(c->err, c->errlen, "config: out of memory");
    }
    return GRIDEMS_ENOMEM;
}

/* parent.key, or key at the top level. A path too long for the buffer is cut short: it only
 * ever appears in a message. */
void gridems_cfg_join(char *buf, const char *parent, const char *key)
{
    size_t used = 0;
    const char *parts[3] = {parent, parent[0] != '\0' ? "." : "", key};
    for (int i = 0; i < 3; i++) {
        for (const char *p = parts[i]; *p != '\0' && used + 1 < GRIDEMS_CFG_PATH_CAP; p++) {
            buf[used++] = *p;
        }
    }
    buf[used] = '\0';
}

/* ---- ## Document-wide checks ---- */

/* Line and column (both from 1) of byte offset `at`, for syntax errors. */
static void line_col(const char *text, size_t at, size_t *line, size_t *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < at; i++) {
        if (text[i] == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

/*
 * cJSON keeps both members of a duplicated key and lookups see only the first, so a second
 * "step_minutes" further down a file would be ignored without a word. Refuse duplicates anywhere
 * in the document, plugin options included.
 */
static int check_duplicates(gridems_cfg_t *c, const cJSON *node, const char *path, int depth)
{
    int index = 0;
    for (const cJSON *it = node->child; it != NULL; it = it->next, index++) {
        char child_path[GRIDEMS_CFG_PATH_CAP];
        if (cJSON_IsObject(node)) {
            for (const cJSON *prev = node->child; prev != it; prev = prev->next) {
                if (strcmp(prev->string, it->string) == 0) {
                    gridems_cfg_join(child_path, path, it->string);
                    return gridems_cfg_fail(c, child_path, "duplicate key");
                }
            }
            gridems_cfg_join(child_path, path, it->string);
        } else {
            /* A path too long for the buffer is cut short, as gridems_cfg_join() cuts it. */
            if (snprintf(child_path, sizeof child_path, "%s[%d]", path, index) < 0) {
                child_path[0] = '\0';
            }
        }
        if ((cJSON_IsObject(it) || cJSON_IsArray(it)) && depth < 64) {
            int rc = check_duplicates(c, it, child_path, depth + 1);
            if (rc != 0) {
                return rc;
            }
        }
    }
    return 0;
}

/* Levenshtein distance, capped: only "is it within 2" matters for suggestions. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63) {
        return 99;
    }
    size_t row[64];
    for (size_t j = 0; j <= lb; j++) {
        row[j] = j;
    }
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] == b[j - 1] ? 0 : 1);
            if (up + 1 < best) {
                best = up + 1;
            }
            if (row[j - 1] + 1 < best) {
                best = row[j - 1] + 1;
            }
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* Every member of obj must be one of `allowed` (NULL-terminated). The message suggests the
 * nearest allowed key, or lists them all, so an operator sees at once what was meant. */
int gridems_cfg_check_keys(gridems_cfg_t *c, const cJSON *obj, const char *path,
                           const char *const *allowed)
{
    for (const cJSON *it = obj->child; it != NULL; it = it->next) {
        int known = 0;
        const char *nearest = NULL;
        size_t nearest_d = 3;
        for (const char *const *k = allowed; *k != NULL; k++) {
            if (strcmp(*k, it->string) == 0) {
                known = 1;
                break;
            }
            size_t d = edit_distance(*k, it->string);
            if (d < nearest_d) {
                nearest_d = d;
                nearest = *k;
            }
        }
        if (known) {
            continue;
        }
        char key_path[GRIDEMS_CFG_PATH_CAP];
        gridems_cfg_join(key_path, path, it->string);
        if (nearest != NULL) {
            return gridems_cfg_fail(c, key_path, "unknown key (did you mean \"%s\"?)", nearest);
        }
        char list[400] = "";
        size_t used = 0;
        for (const char *const *k = allowed; *k != NULL && used < sizeof list; k++) {
            int n = snprintf(list + used, sizeof list - used, "%s%s", k == allowed ? "" : ", ", *k);
            used += n > 0 ? (size_t)n : 0;
        }
        return gridems_cfg_fail(c, key_path, "unknown key; expected one of: %s", list);
    }
    return 0;
}

/* ---- ## Typed getters: absent keep the default; a present value of the wrong type fails ---- */

int gridems_cfg_get_object(gridems_cfg_t *c, const cJSON *obj, const char *parent, const char *key,
                           const cJSON **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    *out = NULL;
    if (v == NULL) {
        return 0;
    }
    if (!cJSON_IsObject(v)) {
        char path[GRIDEMS_CFG_PATH_CAP];
        gridems_cfg_join(path, parent, key);
        return gridems_cfg_fail(c, path, "must be an object, got %s", gridems__json_type_name(v));
    }
    *out = v;
    return 0;
}

/* A non-empty string, or NULL when absent. */
int gridems_cfg_get_string(gridems_cfg_t *c, const cJSON *obj, const char *parent, const char *key,
                           const char **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    *out = NULL;
    if (v == NULL) {
        return 0;
    }
    char path[GRIDEMS_CFG_PATH_CAP];
    gridems_cfg_join(path, parent, key);
    if (!cJSON_IsString(v) || v->valuestring == NULL) {
        return gridems_cfg_fail(c, path, "must be a string, got %s", gridems__json_type_name(v));
    }
    if (v->valuestring[0] == '\0') {
        return gridems_cfg_fail(c, path, "must not be empty");
    }
    *out = v->valuestring;
    return 0;
}

/* A finite number; *present tells whether the key was there. */
int gridems_cfg_get_number(gridems_cfg_t *c, const cJSON *obj, const char *parent, const char *key,
                           bool *present, double *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    *present = false;
    if (v == NULL) {
        return 0;
    }
    char path[GRIDEMS_CFG_PATH_CAP];
    gridems_cfg_join(path, parent, key);
    if (!cJSON_IsNumber(v)) {
        return gridems_cfg_fail(c, path, "must be a number, got %s", gridems__json_type_name(v));
    }
    if (!isfinite(v->valuedouble)) {
        return gridems_cfg_fail(c, path, "must be a finite number");
    }
    *present = true;
    *out = v->valuedouble;
    return 0;
}

/* A number checked against lo (strictly when lo_open) and GRIDEMS_CFG_MAX_MAGNITUDE; def when
 * absent. */
int gridems_cfg_get_bounded(gridems_cfg_t *c, const cJSON *obj, const char *parent, const char *key,
                            double lo, bool lo_open, double def, bool *present, double *out)
{
    double v = def;
    bool here = false;
    int rc = gridems_cfg_get_number(c, obj, parent, key, &here, &v);
    if (rc != 0) {
        return rc;
    }
    if (present != NULL) {
        *present = here;
    }
    if (here) {
        char path[GRIDEMS_CFG_PATH_CAP];
        gridems_cfg_join(path, parent, key);
        if (lo_open ? !(v > lo) : !(v >= lo)) {
            return gridems_cfg_fail(c, path, "must be a number %s %g, got %g",
                                    lo_open ? ">" : ">=", lo, v);
        }
        if (v > GRIDEMS_CFG_MAX_MAGNITUDE) {
            return gridems_cfg_fail(c, path, "must be at most %g, got %g",
                                    GRIDEMS_CFG_MAX_MAGNITUDE, v);
        }
    }
    *out = v;
    return 0;
}

/* An integer in lo..hi; def when absent. */
int gridems_cfg_get_int(gridems_cfg_t *c, const cJSON *obj, const char *parent, const char *key,
                        int lo, int hi, int def, int *out)
{
    double v = 0;
    bool here = false;
    int rc = gridems_cfg_get_number(c, obj, parent, key, &here, &v);
    if (rc != 0) {
        return rc;
    }
    if (!here) {
        *out = def;
        return 0;
    }
    char path[GRIDEMS_CFG_PATH_CAP];
    gridems_cfg_join(path, parent, key);
    if (v != floor(v) || v < lo || v > hi) {
        return gridems_cfg_fail(c, path, "must be an integer in %d..%d, got %g", lo, hi, v);
    }
    *out = (int)v;
    return 0;
}

int gridems_cfg_get_bool(gridems_cfg_t *c, const cJSON *obj, const char *parent, const char *key,
                         bool def, bool *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    *out = def;
    if (v == NULL) {
        return 0;
    }
    if (!cJSON_IsBool(v)) {
        char path[GRIDEMS_CFG_PATH_CAP];
        gridems_cfg_join(path, parent, key);
        return gridems_cfg_fail(c, path, "must be true or false, got %s",
                                gridems__json_type_name(v));
    }
    *out = cJSON_IsTrue(v);
    return 0;
}

/* One of the NULL-terminated `names`; *out is its index, def when absent. */
int gridems_cfg_get_enum(gridems_cfg_t *c, const cJSON *obj, const char *parent, const char *key,
                         const char *const *names, int def, int *out)
{
    const char *s = NULL;
    int rc = gridems_cfg_get_string(c, obj, parent, key, &s);
    if (rc != 0) {
        return rc;
    }
    *out = def;
    if (s == NULL) {
        return 0;
    }
    char list[200] = "";
    size_t used = 0;
    for (int i = 0; names[i] != NULL; i++) {
        if (strcmp(names[i], s) == 0) {
            *out = i;
            return 0;
        }
        int n = snprintf(list + used, sizeof list - used, "%s\"%s\"",
                         names[i + 1] == NULL ? " or " : (i > 0 ? ", " : ""), names[i]);
        used += n > 0 && (size_t)n < sizeof list - used ? (size_t)n : 0;
    }
    char path[GRIDEMS_CFG_PATH_CAP];
    gridems_cfg_join(path, parent, key);
    return gridems_cfg_fail(c, path, "must be %s, got \"%.64s\"", list, s);
}

bool gridems_cfg_printable(const char *s)
{
    for (; *s != '\0'; s++) {
        if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7E) {
            return false;
        }
    }
    return true;
}

int gridems_cfg_strdup(gridems_cfg_t *c, const char *s, char **out)
{
    *out = NULL;
    if (s == NULL) {
        return 0;
    }
    *out = strdup(s);
    return *out != NULL ? 0 : gridems_cfg_oom(c);
}

/* printf into a new heap string. */
__attribute__((format(printf, 3, 4))) int gridems_cfg_aprintf(gridems_cfg_t *c, char **out,
                                                              const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    *out = NULL;
    if (n < 0) {
        return gridems_cfg_oom(c);
    }
    char *s = malloc((size_t)n + 1);
    if (s == NULL) {
        return gridems_cfg_oom(c);
    }
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    *out = s;
    return 0;
}

/* ---- ## The document ---- */

int gridems_cfg_parse_document(gridems_cfg_t *c, const char *text, size_t len, size_t max_bytes,
                               cJSON **out)
{
    *out = NULL;
    if (text == NULL && len > 0) {
        return gridems_cfg_fail_code(c, GRIDEMS_EINVAL, "", "no config given");
    }
    if (len > max_bytes) {
        return gridems_cfg_fail_code(c, GRIDEMS_ETOOBIG, "",
                                     "larger than %zu MiB; is this really the config?",
                                     max_bytes >> 20);
    }
    const char *nul = len > 0 ? memchr(text, '\0', len) : NULL;
    if (nul != NULL) {
        size_t line = 0, col = 0;
        line_col(text, (size_t)(nul - text), &line, &col);
        return gridems_cfg_fail_code(c, GRIDEMS_EPARSE, "", "NUL byte at line %zu, column %zu",
                                     line, col);
    }
    const char *end = NULL;
    cJSON *root = len > 0 ? cJSON_ParseWithLengthOpts(text, len, &end, false) : NULL;
    if (root == NULL) {
        size_t at = end != NULL && end >= text && end <= text + len ? (size_t)(end - text) : len;
        size_t line = 0, col = 0;
        line_col(text, at, &line, &col);
        return gridems_cfg_fail_code(c, GRIDEMS_EPARSE, "",
                                     "JSON syntax error at line %zu, column %zu", line, col);
    }
    for (size_t at = (size_t)(end - text); at < len; at++) {
        char ch = text[at];
        if (ch != ' ' && ch != '\t' && ch != '\n' && ch != '\r') {
            size_t line = 0, col = 0;
            line_col(text, at, &line, &col);
            cJSON_Delete(root);
            return gridems_cfg_fail_code(
                c, GRIDEMS_EPARSE, "",
                "unexpected data after the JSON document at line %zu, column %zu", line, col);
        }
    }
    int rc = 0;
    if (!cJSON_IsObject(root)) {
        rc = gridems_cfg_fail(c, "", "the top level must be an object, got %s",
                              gridems__json_type_name(root));
    } else {
        rc = check_duplicates(c, root, "", 0);
    }
    if (rc != 0) {
        cJSON_Delete(root);
        return rc;
    }
    *out = root;
    return 0;
}
