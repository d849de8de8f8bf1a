/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The simulators' JSON buffer, writer and pull reader; see sim_json.h. */
#include "sim_json.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Deepest nesting the writer and the reader handle (one bit per level in a uint32_t). */
#define MAX_DEPTH 31

/* ---- ## Text buffer ---- */

void gridems__sim_buf_free(gridems__sim_buf_t *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

void gridems__sim_buf_reset(gridems__sim_buf_t *b)
{
    b->len = 0;
    b->oom = 0;
    b->need_comma = 0;
    b->depth = 0;
    b->after_key = 0;
    if (b->data != NULL) {
        b->data[0] = '\0';
    }
}

/* Make room for `more` bytes plus the NUL. Returns 0, or -1 (and sets oom). */
static int buf_reserve(gridems__sim_buf_t *b, size_t more)
{
    if (b->oom) {
        return -1;
    }
    if (more > SIZE_MAX / 2 - b->len) {
        b->oom = 1;
        return -1;
    }
    size_t need = b->len + more + 1;
    if (need <= b->cap) {
        return 0;
    }
    size_t cap = b->cap < 256 ? 256 : b->cap;
    while (cap < need) {
        cap *= 2;
    }
    char *data = realloc(b->data, cap);
    if (data == NULL) {
        b->oom = 1;
        return -1;
    }
    b->data = data;
    b->cap = cap;
    return 0;
}

static void buf_append(gridems__sim_buf_t *b, const char *s, size_t n)
{
    if (buf_reserve(b, n) < 0) {
        return;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void gridems__sim_buf_printf(gridems__sim_buf_t *b, const char *fmt, ...)
{
    if (buf_reserve(b, 64) < 0) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->oom = 1;
        return;
    }
    if ((size_t)n >= b->cap - b->len) {
        /* Too long for the space left: grow to fit and format again. */
        if (buf_reserve(b, (size_t)n) < 0) {
            return;
        }
        va_start(ap, fmt);
        vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
}

/* ---- ## JSON writer ---- */

/* Before a value or a key: the comma that separates it from the previous item of its level. */
static void json_sep(gridems__sim_buf_t *b)
{
    if (b->after_key) {
        b->after_key = 0;
        return;
    }
    uint32_t bit = UINT32_C(1) << b->depth;
    if (b->need_comma & bit) {
        buf_append(b, ",", 1);
    }
    b->need_comma |= bit;
}

static void json_open(gridems__sim_buf_t *b, char c)
{
    json_sep(b);
    if (b->depth >= MAX_DEPTH) {
        b->oom = 1; /* a writer bug, reported like an allocation failure */
        return;
    }
    buf_append(b, &c, 1);
    b->depth++;
    b->need_comma &= ~(UINT32_C(1) << b->depth);
}

static void json_close(gridems__sim_buf_t *b, char c)
{
    if (b->depth > 0) {
        b->depth--;
    }
    buf_append(b, &c, 1);
}

void gridems__sim_json_begin_object(gridems__sim_buf_t *b)
{
    json_open(b, '{');
}

void gridems__sim_json_end_object(gridems__sim_buf_t *b)
{
    json_close(b, '}');
}

void gridems__sim_json_begin_array(gridems__sim_buf_t *b)
{
    json_open(b, '[');
}

void gridems__sim_json_end_array(gridems__sim_buf_t *b)
{
    json_close(b, ']');
}

static void json_string_raw(gridems__sim_buf_t *b, const char *s)
{
    buf_append(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\') {
            char esc[2] = {'\\', (char)*p};
            buf_append(b, esc, 2);
        } else if (*p < 0x20) {
            gridems__sim_buf_printf(b, "\\u%04x", *p);
        } else {
            buf_append(b, (const char *)p, 1);
        }
    }
    buf_append(b, "\"", 1);
}

void gridems__sim_json_key(gridems__sim_buf_t *b, const char *key)
{
    json_sep(b);
    json_string_raw(b, key);
    buf_append(b, ":", 1);
    b->after_key = 1;
}

void gridems__sim_json_num(gridems__sim_buf_t *b, double v)
{
    json_sep(b);
    if (!isfinite(v)) {
        buf_append(b, "null", 4);
        return;
    }
    /* The shortest of 15, 16 or 17 significant digits that reads back as the same double. */
    char text[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(text, sizeof text, "%.*g", prec, v);
        if (strtod(text, NULL) == v) {
            break;
        }
    }
    buf_append(b, text, strlen(text));
}

void gridems__sim_json_int(gridems__sim_buf_t *b, int64_t v)
{
    json_sep(b);
    gridems__sim_buf_printf(b, "%" PRId64, v);
}

void gridems__sim_json_bool(gridems__sim_buf_t *b, int v)
{
    json_sep(b);
    if (v) {
        buf_append(b, "true", 4);
    } else {
        buf_append(b, "false", 5);
    }
}

void gridems__sim_json_str(gridems__sim_buf_t *b, const char *s)
{
    json_sep(b);
    json_string_raw(b, s != NULL ? s : "");
}

void gridems__sim_json_kv_num(gridems__sim_buf_t *b, const char *key, double v)
{
    gridems__sim_json_key(b, key);
    gridems__sim_json_num(b, v);
}

void gridems__sim_json_kv_int(gridems__sim_buf_t *b, const char *key, int64_t v)
{
    gridems__sim_json_key(b, key);
    gridems__sim_json_int(b, v);
}

void gridems__sim_json_kv_bool(gridems__sim_buf_t *b, const char *key, int v)
{
    gridems__sim_json_key(b, key);
    gridems__sim_json_bool(b, v);
}

void gridems__sim_json_kv_str(gridems__sim_buf_t *b, const char *key, const char *s)
{
    gridems__sim_json_key(b, key);
    gridems__sim_json_str(b, s);
}

/* ---- ## JSON pull reader ---- */

void gridems__sim_jr_init(gridems__sim_jr_t *r, const char *text, size_t len)
{
    memset(r, 0, sizeof *r);
    r->start = text;
    r->p = text;
    r->end = text + len;
}

int gridems__sim_jr_fail(gridems__sim_jr_t *r, const char *why)
{
    if (r->error == NULL) {
        r->error = why;
        r->at = (size_t)(r->p - r->start);
    }
    return -1;
}

static void jr_ws(gridems__sim_jr_t *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r')) {
        r->p++;
    }
}

/* Skip blanks and check that a value can start here. Returns 0 or -1. */
static int jr_value_start(gridems__sim_jr_t *r)
{
    if (r->error != NULL) {
        return -1;
    }
    jr_ws(r);
    if (r->p >= r->end) {
        return gridems__sim_jr_fail(r, "unexpected end of text");
    }
    return 0;
}

static int jr_open(gridems__sim_jr_t *r, char c, const char *why)
{
    if (jr_value_start(r) < 0) {
        return -1;
    }
    if (*r->p != c) {
        return gridems__sim_jr_fail(r, why);
    }
    if (r->depth >= MAX_DEPTH) {
        return gridems__sim_jr_fail(r, "nested too deeply");
    }
    r->p++;
    r->depth++;
    r->need_comma &= ~(UINT32_C(1) << r->depth);
    r->seen_from[r->depth] = r->n_seen;
    return 0;
}

int gridems__sim_jr_begin_object(gridems__sim_jr_t *r)
{
    return jr_open(r, '{', "expected an object");
}

int gridems__sim_jr_begin_array(gridems__sim_jr_t *r)
{
    return jr_open(r, '[', "expected an array");
}

/* The separator logic of next_key and next_item: 1 = an item follows, 0 = closed, -1 = error. */
static int jr_next(gridems__sim_jr_t *r, char close)
{
    if (r->error != NULL) {
        return -1;
    }
    if (r->depth == 0) {
        return gridems__sim_jr_fail(r, "not inside an object or array");
    }
    jr_ws(r);
    if (r->p >= r->end) {
        return gridems__sim_jr_fail(r, "unexpected end of text");
    }
    if (*r->p == close) {
        r->p++;
        r->n_seen = r->seen_from[r->depth];
        r->depth--;
        return 0;
    }
    uint32_t bit = UINT32_C(1) << r->depth;
    if (r->need_comma & bit) {
        if (*r->p != ',') {
            return gridems__sim_jr_fail(r, close == '}' ? "expected ',' or '}'"
                                                        : "expected ',' or ']'");
        }
        r->p++;
        jr_ws(r);
        if (r->p >= r->end) {
            return gridems__sim_jr_fail(r, "unexpected end of text");
        }
    }
    r->need_comma |= bit;
    return 1;
}

static int hex4(const char *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9') {
            v |= (unsigned)(c - '0');
        } else if (c >= 'a' && c <= 'f') {
            v |= (unsigned)(c - 'a' + 10);
        } else if (c >= 'A' && c <= 'F') {
            v |= (unsigned)(c - 'A' + 10);
        } else {
            return -1;
        }
    }
    *out = v;
    return 0;
}

/* Append one byte to out (NULL = skip mode). Returns 0, or -1 when it does not fit. */
static int put_byte(char *out, size_t outlen, size_t *n, unsigned char c)
{
    if (out == NULL) {
        return 0;
    }
    if (*n + 1 >= outlen) {
        return -1;
    }
    out[(*n)++] = (char)c;
    return 0;
}

static int put_utf8(char *out, size_t outlen, size_t *n, unsigned cp)
{
    unsigned char bytes[4];
    int len;
    if (cp < 0x80) {
        bytes[0] = (unsigned char)cp;
        len = 1;
    } else if (cp < 0x800) {
        bytes[0] = (unsigned char)(0xC0 | (cp >> 6));
        bytes[1] = (unsigned char)(0x80 | (cp & 0x3F));
        len = 2;
    } else if (cp < 0x10000) {
        bytes[0] = (unsigned char)(0xE0 | (cp >> 12));
        bytes[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        bytes[2] = (unsigned char)(0x80 | (cp & 0x3F));
        len = 3;
    } else {
        bytes[0] = (unsigned char)(0xF0 | (cp >> 18));
        bytes[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
        bytes[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        bytes[3] = (unsigned char)(0x80 | (cp & 0x3F));
        len = 4;
    }
    for (int i = 0; i < len; i++) {
        if (put_byte(out, outlen, n, bytes[i]) < 0) {
            return -1;
        }
    }
    return 0;
}

/* Read a string token into out (NULL: just skip it). The reader is at the opening quote. */
static int jr_string_token(gridems__sim_jr_t *r, char *out, size_t outlen)
{
    if (*r->p != '"') {
        return gridems__sim_jr_fail(r, "expected a string");
    }
    r->p++;
    size_t n = 0;
    while (r->p < r->end) {
        unsigned char c = (unsigned char)*r->p;
        if (c == '"') {
            r->p++;
            if (out != NULL) {
                out[n] = '\0';
            }
            return 0;
        }
        if (c < 0x20) {
            return gridems__sim_jr_fail(r, "control character in a string");
        }
        if (c != '\\') {
            if (put_byte(out, outlen, &n, c) < 0) {
                return gridems__sim_jr_fail(r, "string too long");
            }
            r->p++;
            continue;
        }
        if (r->end - r->p < 2) {
            break;
        }
        char e = r->p[1];
        r->p += 2;
        unsigned char lit = 0;
        switch (e) {
        case '"':
        case '\\':
        case '/':
            lit = (unsigned char)e;
            break;
        case 'b':
            lit = '\b';
            break;
        case 'f':
            lit = '\f';
            break;
        case 'n':
            lit = '\n';
            break;
        case 'r':
            lit = '\r';
            break;
        case 't':
            lit = '\t';
            break;
        case 'u': {
            unsigned cp;
            if (r->end - r->p < 4 || hex4(r->p, &cp) < 0) {
                return gridems__sim_jr_fail(r, "bad \\u escape");
            }
            r->p += 4;
            if (cp >= 0xD800 && cp < 0xDC00) {
                /* A high surrogate: combine with the low one that should follow. */
                unsigned lo;
                if (r->end - r->p >= 6 && r->p[0] == '\\' && r->p[1] == 'u' &&
                    hex4(r->p + 2, &lo) == 0 && lo >= 0xDC00 && lo < 0xE000) {
                    r->p += 6;
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                } else {
                    cp = 0xFFFD;
                }
            } else if (cp >= 0xDC00 && cp < 0xE000) {
                cp = 0xFFFD;
            }
            if (put_utf8(out, outlen, &n, cp) < 0) {
                return gridems__sim_jr_fail(r, "string too long");
            }
            continue;
        }
        default:
            return gridems__sim_jr_fail(r, "bad escape in a string");
        }
        if (put_byte(out, outlen, &n, lit) < 0) {
            return gridems__sim_jr_fail(r, "string too long");
        }
    }
    return gridems__sim_jr_fail(r, "unterminated string");
}

/* Whether the member name at name (an earlier one of this text) reads as key. */
static int jr_name_is(const gridems__sim_jr_t *r, const char *name, const char *key)
{
    gridems__sim_jr_t again = *r;
    char text[257];
    again.p = name;
    again.error = NULL;
    return jr_string_token(&again, text, sizeof text) == 0 && strcmp(text, key) == 0;
}

int gridems__sim_jr_next_key(gridems__sim_jr_t *r, char *key, size_t keylen)
{
    int rc = jr_next(r, '}');
    if (rc <= 0) {
        return rc;
    }
    const char *name = r->p;
    if (keylen > 257) {
        keylen = 257; /* the longest name jr_name_is can read back */
    }
    if (r->p >= r->end || jr_string_token(r, key, keylen) < 0) {
        return gridems__sim_jr_fail(r, "expected a member name");
    }
    for (int i = r->seen_from[r->depth]; i < r->n_seen; i++) {
        if (jr_name_is(r, r->seen[i], key)) {
            r->p = name;
            return gridems__sim_jr_fail(r, "a member name given twice");
        }
    }
    if (r->n_seen == GRIDEMS__SIM_JR_MAX_MEMBERS) {
        r->p = name;
        return gridems__sim_jr_fail(r, "too many members in the open objects");
    }
    r->seen[r->n_seen++] = name;
    jr_ws(r);
    if (r->p >= r->end || *r->p != ':') {
        return gridems__sim_jr_fail(r, "expected ':'");
    }
    r->p++;
    return 1;
}

int gridems__sim_jr_next_item(gridems__sim_jr_t *r)
{
    return jr_next(r, ']');
}

/* The extent of a JSON number at the reader: sets *len and *integral (no fraction/exponent). */
static int jr_number_token(gridems__sim_jr_t *r, size_t *len, int *integral)
{
    const char *p = r->p;
    *integral = 1;
    if (p < r->end && *p == '-') {
        p++;
    }
    const char *digits = p;
    while (p < r->end && *p >= '0' && *p <= '9') {
        p++;
    }
    if (p == digits) {
        return gridems__sim_jr_fail(r, "expected a number");
    }
    if (p < r->end && *p == '.') {
        *integral = 0;
        p++;
        const char *frac = p;
        while (p < r->end && *p >= '0' && *p <= '9') {
            p++;
        }
        if (p == frac) {
            return gridems__sim_jr_fail(r, "bad number");
        }
    }
    if (p < r->end && (*p == 'e' || *p == 'E')) {
        *integral = 0;
        p++;
        if (p < r->end && (*p == '+' || *p == '-')) {
            p++;
        }
        const char *exp = p;
        while (p < r->end && *p >= '0' && *p <= '9') {
            p++;
        }
        if (p == exp) {
            return gridems__sim_jr_fail(r, "bad number");
        }
    }
    *len = (size_t)(p - r->p);
    if (*len >= 64) {
        return gridems__sim_jr_fail(r, "number too long");
    }
    return 0;
}

int gridems__sim_jr_number(gridems__sim_jr_t *r, double *out)
{
    size_t len;
    int integral;
    if (jr_value_start(r) < 0 || jr_number_token(r, &len, &integral) < 0) {
        return -1;
    }
    char text[64];
    memcpy(text, r->p, len);
    text[len] = '\0';
    double v = strtod(text, NULL);
    if (!isfinite(v)) {
        return gridems__sim_jr_fail(r, "number out of range");
    }
    r->p += len;
    *out = v;
    return 0;
}

int gridems__sim_jr_int64(gridems__sim_jr_t *r, int64_t *out)
{
    size_t len;
    int integral;
    if (jr_value_start(r) < 0 || jr_number_token(r, &len, &integral) < 0) {
        return -1;
    }
    if (!integral) {
        return gridems__sim_jr_fail(r, "expected an integer");
    }
    char text[64];
    memcpy(text, r->p, len);
    text[len] = '\0';
    errno = 0;
    long long v = strtoll(text, NULL, 10);
    if (errno != 0) {
        return gridems__sim_jr_fail(r, "integer out of range");
    }
    r->p += len;
    *out = (int64_t)v;
    return 0;
}

static int jr_literal(gridems__sim_jr_t *r, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(r->end - r->p) >= n && memcmp(r->p, lit, n) == 0) {
        r->p += n;
        return 1;
    }
    return 0;
}

int gridems__sim_jr_bool(gridems__sim_jr_t *r, int *out)
{
    if (jr_value_start(r) < 0) {
        return -1;
    }
    if (jr_literal(r, "true")) {
        *out = 1;
        return 0;
    }
    if (jr_literal(r, "false")) {
        *out = 0;
        return 0;
    }
    return gridems__sim_jr_fail(r, "expected true or false");
}

int gridems__sim_jr_string(gridems__sim_jr_t *r, char *out, size_t outlen)
{
    if (out == NULL || outlen == 0) {
        return gridems__sim_jr_fail(r, "no room for a string");
    }
    if (jr_value_start(r) < 0) {
        return -1;
    }
    return jr_string_token(r, out, outlen);
}

int gridems__sim_jr_skip(gridems__sim_jr_t *r)
{
    if (jr_value_start(r) < 0) {
        return -1;
    }
    char c = *r->p;
    if (c == '{') {
        if (gridems__sim_jr_begin_object(r) < 0) {
            return -1;
        }
        int rc;
        while ((rc = jr_next(r, '}')) == 1) {
            if (jr_string_token(r, NULL, 0) < 0) {
                return -1;
            }
            jr_ws(r);
            if (r->p >= r->end || *r->p != ':') {
                return gridems__sim_jr_fail(r, "expected ':'");
            }
            r->p++;
            if (gridems__sim_jr_skip(r) < 0) {
                return -1;
            }
        }
        return rc;
    }
    if (c == '[') {
        if (gridems__sim_jr_begin_array(r) < 0) {
            return -1;
        }
        int rc;
        while ((rc = gridems__sim_jr_next_item(r)) == 1) {
            if (gridems__sim_jr_skip(r) < 0) {
                return -1;
            }
        }
        return rc;
    }
    if (c == '"') {
        return jr_string_token(r, NULL, 0);
    }
    if (jr_literal(r, "true") || jr_literal(r, "false") || jr_literal(r, "null")) {
        return 0;
    }
    size_t len;
    int integral;
    if (jr_number_token(r, &len, &integral) < 0) {
        return gridems__sim_jr_fail(r, "expected a value");
    }
    r->p += len;
    return 0;
}

int gridems__sim_jr_finish(gridems__sim_jr_t *r)
{
    if (r->error != NULL) {
        return -1;
    }
    if (r->depth != 0) {
        return gridems__sim_jr_fail(r, "unterminated object or array");
    }
    jr_ws(r);
    if (r->p != r->end) {
        return gridems__sim_jr_fail(r, "trailing characters after the value");
    }
    return 0;
}
