/* SPDX-License-Identifier: GPL-3.0-or-later */
/* device_mqtt's pure mapping; see mqtt_map.h. */
#include "mqtt_map.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* ---- ## A bounded JSON scanner ---- */

typedef struct scan_s {
    const char *p;
    const char *end;
    const char *start;
    int depth;
} scan_t;

enum { MAX_DEPTH = 64 };

static void ws(scan_t *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r')) {
        s->p++;
    }
}

static int eat(scan_t *s, char c)
{
    ws(s);
    if (s->p < s->end && *s->p == c) {
        s->p++;
        return 1;
    }
    return 0;
}

/* Skip a string (s->p at its opening quote); body and blen get its raw contents. */
static int skip_string(scan_t *s, const char **body, size_t *blen)
{
    if (s->p >= s->end || *s->p != '"') {
        return -1;
    }
    const char *b = ++s->p;
    while (s->p < s->end && *s->p != '"') {
        if (*s->p == '\\') {
            s->p++;
        }
        s->p++;
    }
    if (s->p >= s->end) {
        return -1;
    }
    if (body != NULL) {
        *body = b;
        *blen = (size_t)(s->p - b);
    }
    s->p++;
    return 0;
}

static int skip_value(scan_t *s);

static int skip_container(scan_t *s, char open, char close)
{
    if (++s->depth > MAX_DEPTH) {
        return -1;
    }
    s->p++; /* the opening bracket */
    if (eat(s, close)) {
        s->depth--;
        return 0;
    }
    for (;;) {
        if (open == '{') {
            ws(s);
            if (skip_string(s, NULL, NULL) < 0 || !eat(s, ':')) {
                return -1;
            }
        }
        if (skip_value(s) < 0) {
            return -1;
        }
        if (eat(s, ',')) {
            continue;
        }
        if (eat(s, close)) {
            s->depth--;
            return 0;
        }
        return -1;
    }
}

static int skip_value(scan_t *s)
{
    ws(s);
    if (s->p >= s->end) {
        return -1;
    }
    char c = *s->p;
    if (c == '"') {
        return skip_string(s, NULL, NULL);
    }
    if (c == '{') {
        return skip_container(s, '{', '}');
    }
    if (c == '[') {
        return skip_container(s, '[', ']');
    }
    /* a number or a literal: up to the next delimiter */
    const char *b = s->p;
    while (s->p < s->end && !strchr(",}] \t\r\n", *s->p)) {
        s->p++;
    }
    return s->p > b ? 0 : -1;
}

/* Compare a raw JSON string body with a key (escapes other than \" \\ \/ never match). */
static int key_equals(const char *body, size_t blen, const char *key, size_t klen)
{
    size_t i = 0, k = 0;
    while (i < blen && k < klen) {
        char c = body[i];
        if (c == '\\' && i + 1 < blen) {
            c = body[++i];
            if (c != '"' && c != '\\' && c != '/') {
                return 0;
            }
        }
        if (c != key[k]) {
            return 0;
        }
        i++;
        k++;
    }
    return i == blen && k == klen;
}

/* Parse a number from [b, e) completely (after trimming blanks). */
static int parse_number(const char *b, const char *e, double *out)
{
    while (b < e && isspace((unsigned char)*b)) {
        b++;
    }
    while (e > b && isspace((unsigned char)e[-1])) {
        e--;
    }
    if (e == b || e - b > 63) {
        return -1;
    }
    char buf[64];
    memcpy(buf, b, (size_t)(e - b));
    buf[e - b] = '\0';
    char *end = NULL;
    double v = strtod(buf, &end);
    if (end != buf + (e - b) || !isfinite(v)) {
        return -1;
    }
    *out = v;
    return 0;
}

static int leaf(scan_t *s, const char *where, double *out, char *err, size_t errlen)
{
    ws(s);
    if (s->p >= s->end) {
        return fail(err, errlen, "no value at \"%s\"", where);
    }
    if (*s->p == '"') {
        const char *body;
        size_t blen;
        if (skip_string(s, &body, &blen) < 0 || parse_number(body, body + blen, out) < 0) {
            return fail(err, errlen, "the string at \"%s\" is not a number", where);
        }
        return 0;
    }
    const char *b = s->p;
    if (skip_value(s) < 0) {
        return fail(err, errlen, "not JSON at byte %zu", (size_t)(s->p - s->start));
    }
    size_t n = (size_t)(s->p - b);
    if (n == 4 && memcmp(b, "true", 4) == 0) {
        *out = 1;
        return 0;
    }
    if (n == 5 && memcmp(b, "false", 5) == 0) {
        *out = 0;
        return 0;
    }
    if (n == 4 && memcmp(b, "null", 4) == 0) {
        return fail(err, errlen, "null at \"%s\"", where);
    }
    if (*b == '{' || *b == '[' || parse_number(b, s->p, out) < 0) {
        return fail(err, errlen, "the value at \"%s\" is not a number", where);
    }
    return 0;
}

int dm_extract(const char *payload, size_t len, const char *path, double *out, char *err,
               size_t errlen)
{
    if (path == NULL || path[0] == '\0') {
        if (parse_number(payload, payload + len, out) < 0) {
            return fail(err, errlen, "the payload is not a number");
        }
        return 0;
    }
    /* The whole message first: a value read out of a message that is not one JSON document
     * (cut short, or followed by something else) may be anything. */
    scan_t whole = {payload, payload + len, payload, 0};
    if (skip_value(&whole) < 0) {
        return fail(err, errlen, "not JSON at byte %zu", (size_t)(whole.p - payload));
    }
    ws(&whole);
    if (whole.p < whole.end) {
        return fail(err, errlen, "trailing data at byte %zu after the document",
                    (size_t)(whole.p - payload));
    }
    scan_t s = {payload, payload + len, payload, 0};
    const char *seg = path;
    char where[128] = "";
    while (*seg != '\0') {
        if (*seg == '[') {
            char *end = NULL;
            long idx = strtol(seg + 1, &end, 10);
            if (end == seg + 1 || *end != ']' || idx < 0) {
                return fail(err, errlen, "bad index in the path at \"%s\"", seg);
            }
            snprintf(where + strlen(where), sizeof where - strlen(where), "[%ld]", idx);
            ws(&s);
            if (s.p >= s.end || *s.p != '[') {
                return fail(err, errlen, "no array at \"%s\"", where);
            }
            s.p++;
            for (long i = 0; i < idx; i++) {
                if (skip_value(&s) < 0 || !eat(&s, ',')) {
                    return fail(err, errlen, "no element %s", where);
                }
            }
            ws(&s);
            if (s.p < s.end && *s.p == ']') {
                return fail(err, errlen, "no element %s", where);
            }
            seg = end + 1;
        } else {
            if (*seg == '.') {
                seg++;
            }
            size_t klen = strcspn(seg, ".[");
            if (klen == 0) {
                return fail(err, errlen, "empty member name in the path");
            }
            snprintf(where + strlen(where), sizeof where - strlen(where), "%s%.*s",
                     where[0] ? "." : "", (int)klen, seg);
            ws(&s);
            if (s.p >= s.end || *s.p != '{') {
                return fail(err, errlen, "no object for \"%s\"", where);
            }
            s.p++;
            /* Every member is looked at: a key given twice is refused (which would hold?). */
            const char *value = NULL;
            if (!eat(&s, '}')) {
                for (;;) {
                    ws(&s);
                    const char *body;
                    size_t blen;
                    if (skip_string(&s, &body, &blen) < 0 || !eat(&s, ':')) {
                        return fail(err, errlen, "not JSON at byte %zu", (size_t)(s.p - s.start));
                    }
                    if (key_equals(body, blen, seg, klen)) {
                        if (value != NULL) {
                            return fail(err, errlen, "member \"%s\" given twice", where);
                        }
                        ws(&s);
                        value = s.p;
                    }
                    if (skip_value(&s) < 0) {
                        return fail(err, errlen, "not JSON at byte %zu", (size_t)(s.p - s.start));
                    }
                    if (!eat(&s, ',')) {
                        break;
                    }
                }
            }
            if (value == NULL) {
                return fail(err, errlen, "no member \"%s\"", where);
            }
            s.p = value;
            seg += klen;
        }
    }
    return leaf(&s, where, out, err, errlen);
}

/* ---- ## Templates ---- */

static int put_num(char *buf, size_t len, double v)
{
    /* the shortest of %.15g .. %.17g that reads back as v */
    for (int prec = 15; prec <= 17; prec++) {
        int n = snprintf(buf, len, "%.*g", prec, v);
        if (n < 0 || (size_t)n >= len) {
            return -1;
        }
        if (strtod(buf, NULL) == v) {
            return n;
        }
    }
    return (int)strlen(buf);
}

int dm_render(const char *tmpl, const dm_vars_t *v, char *out, size_t outlen, char *err,
              size_t errlen)
{
    size_t at = 0;
    for (const char *p = tmpl; *p != '\0';) {
        char piece[64];
        int n;
        if (p[0] == '$' && p[1] == '$') {
            piece[0] = '$';
            piece[1] = '\0';
            n = 1;
            p += 2;
        } else if (p[0] == '$' && p[1] == '{') {
            p++; /* at the brace */
            const char *close = strchr(p, '}');
            if (close == NULL) {
                return fail(err, errlen, "unclosed \"${\" in the template");
            }
            size_t k = (size_t)(close - p - 1);
            const char *name = p + 1;
#define IS(s) (k == strlen(s) && memcmp(name, s, k) == 0)
            if (IS("power_kw")) {
                n = put_num(piece, sizeof piece, v->power_kw);
            } else if (IS("power_w")) {
                n = put_num(piece, sizeof piece, v->power_kw * 1000.0);
            } else if (IS("safe")) {
                n = snprintf(piece, sizeof piece, "%s", v->safe ? "true" : "false");
            } else if (IS("safe01")) {
                n = snprintf(piece, sizeof piece, "%d", v->safe ? 1 : 0);
            } else if (IS("plan_id")) {
                n = snprintf(piece, sizeof piece, "%" PRIu64, v->plan_id);
            } else if (IS("ts_ms")) {
                n = snprintf(piece, sizeof piece, "%" PRId64, v->ts_ms);
            } else if (IS("ts_s")) {
                n = snprintf(piece, sizeof piece, "%" PRId64, v->ts_ms / 1000);
            } else if (IS("valid_until_ms")) {
                n = snprintf(piece, sizeof piece, "%" PRId64, v->valid_until_ms);
            } else {
                return fail(err, errlen, "unknown placeholder \"${%.*s}\" in the template",
                            (int)(k > 40 ? 40 : k), name);
            }
#undef IS
            if (n < 0) {
                return fail(err, errlen, "cannot format a value");
            }
            p = close + 1;
        } else {
            piece[0] = *p++;
            piece[1] = '\0';
            n = 1;
        }
        if (at + (size_t)n >= outlen) {
            return fail(err, errlen, "the rendered command is longer than %zu bytes", outlen - 1);
        }
        memcpy(out + at, piece, (size_t)n);
        at += (size_t)n;
    }
    out[at] = '\0';
    return (int)at;
}
