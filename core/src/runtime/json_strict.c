/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The input JSON policy (json_strict.h). */
#include "json_strict.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error_text.h"
#include "gridems/errors.h"
#include "timeutil.h"

bool gridems_utf8_valid(const char *s, size_t len, size_t *bad)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        unsigned c = p[i];
        size_t need;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            need = 1, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            need = 2, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            need = 3, cp = c & 0x07, min = 0x10000;
        } else {
            goto fail;
        }
        if (len - i <= need) {
            goto fail;
        }
        for (size_t k = 1; k <= need; k++) {
            if ((p[i + k] & 0xC0) != 0x80) {
                goto fail;
            }
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        /* Overlong forms, UTF-16 surrogates and code points past Unicode are not UTF-8. */
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
            goto fail;
        }
        i += need + 1;
    }
    return true;
fail:
    if (bad != NULL) {
        *bad = i;
    }
    return false;
}

/* An escaped NUL (\u0000) inside a string; raw bytes are checked separately. Returns its
 * offset, or len when there is none. */
static size_t escaped_nul(const char *s, size_t len)
{
    bool in_string = false;
    for (size_t i = 0; i < len; i++) {
        if (!in_string) {
            in_string = s[i] == '"';
        } else if (s[i] == '"') {
            in_string = false;
        } else if (s[i] == '\\' && i + 1 < len) {
            if (s[i + 1] == 'u' && i + 5 < len && strncmp(s + i + 2, "0000", 4) == 0) {
                return i;
            }
            i++; /* the escaped character */
        }
    }
    return len;
}

static int compare_keys(const void *a, const void *b)
{
    const cJSON *x = *(const cJSON *const *)a;
    const cJSON *y = *(const cJSON *const *)b;
    return strcmp(x->string, y->string);
}

/* The first duplicate key in the tree: 0, or GRIDEMS_EPARSE with the key and where in err. */
static int find_duplicate(const cJSON *node, char *path, size_t pathlen, char *err, size_t errlen)
{
    if (cJSON_IsObject(node)) {
        size_t n = 0;
        for (const cJSON *c = node->child; c != NULL; c = c->next) {
            n++;
        }
        if (n > 1) {
            const cJSON **keys = malloc(n * sizeof *keys);
            if (keys == NULL) {
                return GRIDEMS_ENOMEM;
            }
            size_t i = 0;
            for (const cJSON *c = node->child; c != NULL; c = c->next) {
                keys[i++] = c;
            }
            /* Sorted, so a message with thousands of keys costs n log n, not n^2. */
            qsort(keys, n, sizeof *keys, compare_keys);
            for (i = 1; i < n; i++) {
                if (strcmp(keys[i - 1]->string, keys[i]->string) == 0) {
                    char key[80];
                    gridems_log_safe(keys[i]->string, 48, key, sizeof key);
                    if (err != NULL) {
                        snprintf(err, errlen, "duplicate key \"%s\" in %s", key, path);
                    }
                    free(keys);
                    return GRIDEMS_EPARSE;
                }
            }
            free(keys);
        }
    }
    if (!cJSON_IsObject(node) && !cJSON_IsArray(node)) {
        return 0;
    }
    size_t base = strlen(path);
    int index = 0;
    for (const cJSON *c = node->child; c != NULL; c = c->next, index++) {
        if (!cJSON_IsObject(c) && !cJSON_IsArray(c)) {
            continue;
        }
        if (cJSON_IsObject(node)) {
            char key[48];
            gridems_log_safe(c->string, 32, key, sizeof key);
            snprintf(path + base, pathlen - base, ".%s", key);
        } else {
            snprintf(path + base, pathlen - base, "[%d]", index);
        }
        int rc = find_duplicate(c, path, pathlen, err, errlen);
        path[base] = '\0';
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

int gridems_json_parse_strict(const char *text, size_t len, cJSON **out, char *err, size_t errlen)
{
    *out = NULL;
    if (err != NULL && errlen > 0) {
        err[0] = '\0';
    }
    size_t at = 0;
    const char *nul = text != NULL ? memchr(text, '\0', len) : NULL;
    if (text == NULL || len == 0) {
        snprintf(err, err != NULL ? errlen : 0, "empty message");
        return GRIDEMS_EPARSE;
    }
    if (nul != NULL) {
        snprintf(err, err != NULL ? errlen : 0, "NUL byte at byte %zu", (size_t)(nul - text));
        return GRIDEMS_EPARSE;
    }
    if (!gridems_utf8_valid(text, len, &at)) {
        snprintf(err, err != NULL ? errlen : 0, "invalid UTF-8 at byte %zu", at);
        return GRIDEMS_EPARSE;
    }
    if ((at = escaped_nul(text, len)) < len) {
        snprintf(err, err != NULL ? errlen : 0, "escaped NUL (\\u0000) at byte %zu", at);
        return GRIDEMS_EPARSE;
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (root == NULL) {
        const char *where = cJSON_GetErrorPtr();
        size_t off =
            where != NULL && where >= text && where <= text + len ? (size_t)(where - text) : 0;
        snprintf(err, err != NULL ? errlen : 0, "not JSON (syntax error near byte %zu)", off);
        return GRIDEMS_EPARSE;
    }
    for (const char *p = end; p != NULL && p < text + len; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            cJSON_Delete(root);
            snprintf(err, err != NULL ? errlen : 0, "trailing data at byte %zu after the document",
                     (size_t)(p - text));
            return GRIDEMS_EPARSE;
        }
    }
    char path[256] = "$";
    char dup[256] = "";
    int rc = find_duplicate(root, path, sizeof path, dup, sizeof dup);
    if (rc != 0) {
        cJSON_Delete(root);
        snprintf(err, err != NULL ? errlen : 0, "%s", rc == GRIDEMS_ENOMEM ? "out of memory" : dup);
        return rc;
    }
    *out = root;
    return 0;
}

int gridems_json_parse_message(const char *text, size_t len, size_t max_bytes, cJSON **out,
                               char *err, size_t errlen)
{
    *out = NULL;
    if (len > max_bytes) {
        snprintf(err, err != NULL ? errlen : 0, "message: larger than %zu bytes", max_bytes);
        return GRIDEMS_ETOOBIG;
    }
    char why[256];
    int rc = gridems_json_parse_strict(text, len, out, why, sizeof why);
    if (rc != 0) {
        snprintf(err, err != NULL ? errlen : 0, "message: %s", why);
    }
    return rc;
}

int gridems_json_check_strict(const char *text, size_t len, char *err, size_t errlen)
{
    cJSON *root = NULL;
    int rc = gridems_json_parse_strict(text, len, &root, err, errlen);
    cJSON_Delete(root);
    return rc;
}

void gridems_log_safe(const char *s, size_t max_in, char *out, size_t outlen)
{
    size_t o = 0;
    if (outlen == 0) {
        return;
    }
    size_t i = 0;
    for (; s != NULL && s[i] != '\0' && i < max_in; i++) {
        unsigned char c = (unsigned char)s[i];
        char piece[8];
        int n = c >= 0x20 && c < 0x7F && c != '\\' ? snprintf(piece, sizeof piece, "%c", c)
                                                   : snprintf(piece, sizeof piece, "\\x%02x", c);
        if (n < 0 || o + (size_t)n + 4 >= outlen) {
            break; /* (n < 0 cannot happen; saying so keeps GCC's -O3 bounds analysis exact) */
        }
        memcpy(out + o, piece, (size_t)n);
        o += (size_t)n;
    }
    if (s != NULL && s[i] != '\0' && o + 3 < outlen) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
}

int gridems_json_time(const cJSON *item, const char *path, int64_t *ms, char *err, size_t errlen)
{
    if (item == NULL) {
        gridems_set_err(err, errlen, "%s: missing", path);
        return GRIDEMS_EINVAL;
    }
    if (!cJSON_IsString(item) || item->valuestring == NULL) {
        gridems_set_err(err, errlen, "%s: must be an ISO 8601 timestamp string", path);
        return GRIDEMS_EINVAL;
    }
    char why[128];
    if (gridems_time_parse_iso(item->valuestring, ms, NULL, why, sizeof why) != 0) {
        gridems_set_err(err, errlen, "%s: %s", path, why);
        return GRIDEMS_EINVAL;
    }
    return 0;
}
