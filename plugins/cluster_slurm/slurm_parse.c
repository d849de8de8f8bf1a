/* SPDX-License-Identifier: GPL-3.0-or-later */
/* cluster_slurm: parsing of squeue/scontrol output and of the comment tag (see slurm_parse.h). */
#include "slurm_parse.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gridems/errors.h"

#define SQUEUE_FIELDS 9
#define TAG_NUM_MAX 1e9

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---- ## Small scanners ---- */

/* A non-negative decimal integer of at most 12 digits, whole string. */
static int parse_uint(const char *s, size_t n, int64_t *out)
{
    if (n == 0 || n > 12) {
        return GRIDEMS_EINVAL;
    }
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return GRIDEMS_EINVAL;
        }
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* A plain decimal number: digits, one '.', an exponent; no sign, hex, inf or nan. */
static int parse_plain_number(const char *s, double *out)
{
    size_t n = strlen(s);
    if (n == 0 || n > 32) {
        return GRIDEMS_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == 'e' || s[i] == 'E' ||
              ((s[i] == '+' || s[i] == '-') && i > 0 && (s[i - 1] == 'e' || s[i - 1] == 'E')))) {
            return GRIDEMS_EINVAL;
        }
    }
    if (!(s[0] >= '0' && s[0] <= '9') && s[0] != '.') {
        return GRIDEMS_EINVAL;
    }
    char *end = NULL;
    double v = strtod(s, &end);
    if (end != s + n || !isfinite(v)) {
        return GRIDEMS_EINVAL;
    }
    *out = v;
    return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's civil algorithm). */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* "YYYY-MM-DDTHH:MM:SS" at s (19 characters). */
static int scan_datetime(const char *s, int64_t f[6])
{
    static const int width[6] = {4, 2, 2, 2, 2, 2};
    static const char sep[6] = {'-', '-', 'T', ':', ':', '\0'};
    const char *p = s;
    for (int i = 0; i < 6; i++) {
        if (parse_uint(p, (size_t)width[i], &f[i]) < 0) {
            return GRIDEMS_EINVAL;
        }
        p += width[i];
        if (sep[i] != '\0') {
            if (*p != sep[i]) {
                return GRIDEMS_EINVAL;
            }
            p++;
        }
    }
    if (f[0] < 1970 || f[0] > 9999 || f[1] < 1 || f[1] > 12 || f[2] < 1 || f[2] > 31 || f[3] > 23 ||
        f[4] > 59 || f[5] > 60) {
        return GRIDEMS_EINVAL;
    }
    return 0;
}

/* ---- ## Times ---- */

int gridems__slurm_parse_duration(const char *s, int64_t *secs)
{
    if (strcmp(s, "UNLIMITED") == 0 || strcmp(s, "INFINITE") == 0 || strcmp(s, "NOT_SET") == 0 ||
        strcmp(s, "N/A") == 0) {
        *secs = -1;
        return 1;
    }
    int64_t days = 0;
    const char *p = s;
    const char *dash = strchr(s, '-');
    if (dash != NULL) {
        if (parse_uint(s, (size_t)(dash - s), &days) < 0) {
            return GRIDEMS_EINVAL;
        }
        p = dash + 1;
    }
    int64_t part[3];
    int n = 0;
    while (n < 3) {
        size_t len = strcspn(p, ":");
        if (parse_uint(p, len, &part[n]) < 0) {
            return GRIDEMS_EINVAL;
        }
        n++;
        if (p[len] == '\0') {
            break;
        }
        p += len + 1;
        if (n == 3) {
            return GRIDEMS_EINVAL; /* a fourth part */
        }
    }
    int64_t h = 0, m = 0, sec = 0;
    if (dash != NULL) { /* D-HH, D-HH:MM, D-HH:MM:SS */
        h = part[0];
        m = n > 1 ? part[1] : 0;
        sec = n > 2 ? part[2] : 0;
    } else if (n == 1) { /* MM */
        m = part[0];
    } else if (n == 2) { /* MM:SS */
        m = part[0];
        sec = part[1];
    } else { /* HH:MM:SS */
        h = part[0];
        m = part[1];
        sec = part[2];
    }
    if ((n > 1 && m > 59) || sec > 59 || (dash != NULL && h > 23) || days > 100000) {
        return GRIDEMS_EINVAL;
    }
    *secs = ((days * 24 + h) * 60 + m) * 60 + sec;
    return 0;
}

int gridems__slurm_parse_local_time(const char *s, int64_t *ms)
{
    if (strcmp(s, "N/A") == 0 || strcmp(s, "NONE") == 0 || strcmp(s, "Unknown") == 0) {
        *ms = 0;
        return 1;
    }
    int64_t f[6];
    if (strlen(s) != 19 || scan_datetime(s, f) < 0) {
        return GRIDEMS_EINVAL;
    }
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    tm.tm_year = (int)f[0] - 1900;
    tm.tm_mon = (int)f[1] - 1;
    tm.tm_mday = (int)f[2];
    tm.tm_hour = (int)f[3];
    tm.tm_min = (int)f[4];
    tm.tm_sec = (int)f[5];
    tm.tm_isdst = -1;
    time_t t = mktime(&tm);
    if (t == (time_t)-1) {
        return GRIDEMS_EINVAL;
    }
    *ms = (int64_t)t * 1000;
    return 0;
}

int gridems__slurm_parse_iso_time(const char *s, int64_t *ms)
{
    size_t n = strlen(s);
    int64_t secs;
    if (n > 0 && strspn(s, "0123456789") == n) {
        if (parse_uint(s, n, &secs) < 0 || secs > INT64_C(253402300799)) {
            return GRIDEMS_EINVAL;
        }
        *ms = secs * 1000;
        return 0;
    }
    int64_t f[6];
    if (n < 20 || scan_datetime(s, f) < 0) {
        return GRIDEMS_EINVAL;
    }
    const char *z = s + 19;
    int64_t off_min = 0;
    if (strcmp(z, "Z") == 0) {
        off_min = 0;
    } else if ((z[0] == '+' || z[0] == '-') && n == 25 && z[3] == ':') {
        int64_t oh, om;
        if (parse_uint(z + 1, 2, &oh) < 0 || parse_uint(z + 4, 2, &om) < 0 || oh > 18 || om > 59) {
            return GRIDEMS_EINVAL;
        }
        off_min = (oh * 60 + om) * (z[0] == '-' ? -1 : 1);
    } else {
        return GRIDEMS_EINVAL;
    }
    secs =
        days_from_civil(f[0], f[1], f[2]) * 86400 + f[3] * 3600 + f[4] * 60 + f[5] - off_min * 60;
    *ms = secs * 1000;
    return 0;
}

/* ---- ## GPUs and ids ---- */

int gridems__slurm_parse_gpus(const char *s, int64_t *gpus)
{
    *gpus = 0;
    if (strcmp(s, "N/A") == 0 || strcmp(s, "(null)") == 0 || s[0] == '\0') {
        return 0;
    }
    size_t n = strlen(s);
    if (n > 512) {
        return GRIDEMS_EINVAL;
    }
    char buf[513];
    memcpy(buf, s, n + 1);
    int64_t total = 0;
    char *save = NULL;
    for (char *item = strtok_r(buf, ",", &save); item != NULL; item = strtok_r(NULL, ",", &save)) {
        /* "gres:gpu:2", "gres/gpu:2", "gres/gpu=2", "gres:gpu:a100:2", "gpu:2" */
        const char *p = item;
        if (strncmp(p, "gres:", 5) == 0 || strncmp(p, "gres/", 5) == 0) {
            p += 5;
        }
        if (strncmp(p, "gpu", 3) != 0 || (p[3] != ':' && p[3] != '=' && p[3] != '\0')) {
            continue; /* another resource */
        }
        const char *count = strrchr(p, p[3] == '=' ? '=' : ':');
        int64_t c = 1; /* "gres:gpu" alone means one */
        if (count != NULL && p[3] != '\0') {
            const char *num = count + 1;
            if (parse_uint(num, strlen(num), &c) < 0) {
                if (count == p + 3) { /* "gpu:a100": a type, no count: one */
                    c = 1;
                } else {
                    return GRIDEMS_EINVAL;
                }
            }
        }
        if (c > 100000) {
            return GRIDEMS_EINVAL;
        }
        total += c;
    }
    *gpus = total;
    return 0;
}

int gridems__slurm_id_valid(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n >= GRIDEMS__SLURM_ID_MAX) {
        return 0;
    }
    size_t digits = strspn(id, "0123456789");
    if (digits == 0) {
        return 0;
    }
    if (id[digits] == '\0') {
        return 1;
    }
    if (id[digits] != '_') {
        return 0;
    }
    const char *task = id + digits + 1;
    size_t tn = strspn(task, "0123456789");
    return tn > 0 && task[tn] == '\0';
}

/* ---- ## The comment tag ---- */

int gridems__slurm_parse_tag(const char *comment, gridems__slurm_tag_t *out, char *err,
                             size_t errlen)
{
    out->flex = 0;
    out->energy_kwh = -1;
    out->power_max_kw = -1;
    out->deadline_ms = 0;
    const char *tag = NULL;
    size_t tag_len = 0;
    const char *p = comment;
    while (*p != '\0') {
        size_t skip = strspn(p, " \t;");
        p += skip;
        size_t len = strcspn(p, " \t;");
        if (len == 0) {
            break;
        }
        if (len >= 8 && strncmp(p, "gridems:", 8) == 0) {
            if (tag != NULL) {
                set_err(err, errlen, "comment: more than one gridems: tag");
                return GRIDEMS_EINVAL;
            }
            tag = p;
            tag_len = len;
        }
        p += len;
    }
    if (tag == NULL) {
        return 0;
    }
    if (tag_len > 256) {
        set_err(err, errlen, "comment: the gridems tag is longer than 256 characters");
        return GRIDEMS_EINVAL;
    }
    char buf[257];
    memcpy(buf, tag, tag_len);
    buf[tag_len] = '\0';
    char *save = NULL;
    char *word = strtok_r(buf, ",", &save);
    if (strcmp(word, "gridems:noflex") == 0) {
        if (strtok_r(NULL, ",", &save) != NULL) {
            set_err(err, errlen, "comment: gridems:noflex takes no values");
            return GRIDEMS_EINVAL;
        }
        out->flex = -1;
        return 1;
    }
    if (strcmp(word, "gridems:flex") != 0) {
        set_err(err, errlen, "comment: the tag must start with gridems:flex or be gridems:noflex");
        return GRIDEMS_EINVAL;
    }
    out->flex = 1;
    for (char *kv = strtok_r(NULL, ",", &save); kv != NULL; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        if (eq == NULL) {
            set_err(err, errlen, "comment: tag item without '=' (expected key=value)");
            return GRIDEMS_EINVAL;
        }
        *eq = '\0';
        const char *key = kv;
        const char *val = eq + 1;
        double *num = NULL;
        if (strcmp(key, "energy_kwh") == 0) {
            num = &out->energy_kwh;
        } else if (strcmp(key, "power_max_kw") == 0) {
            num = &out->power_max_kw;
        } else if (strcmp(key, "deadline") == 0) {
            if (out->deadline_ms != 0) {
                set_err(err, errlen, "comment: deadline given twice");
                return GRIDEMS_EINVAL;
            }
            if (gridems__slurm_parse_iso_time(val, &out->deadline_ms) < 0 ||
                out->deadline_ms <= 0) {
                set_err(err, errlen,
                        "comment: deadline must be ISO 8601 with an offset or Unix seconds");
                return GRIDEMS_EINVAL;
            }
            continue;
        } else {
            set_err(err, errlen,
                    "comment: unknown tag key (known: energy_kwh, power_max_kw, deadline)");
            return GRIDEMS_EINVAL;
        }
        if (*num >= 0) {
            set_err(err, errlen, "comment: %s given twice", key);
            return GRIDEMS_EINVAL;
        }
        double v;
        if (parse_plain_number(val, &v) < 0 || !(v > 0) || v > TAG_NUM_MAX) {
            set_err(err, errlen, "comment: %s must be a plain number in (0, 1e9]", key);
            return GRIDEMS_EINVAL;
        }
        *num = v;
    }
    return 1;
}

/* ---- ## squeue ---- */

typedef struct line_s {
    const char *p;
    size_t n;
} line_t;

/* Split line into up to SQUEUE_FIELDS-1 fields at '|'; the rest (the comment and its
 * terminating '|', if any) in *rest. Returns the number of '|' found before the rest. */
static int split_fields(line_t line, line_t f[SQUEUE_FIELDS - 1], line_t *rest)
{
    const char *p = line.p;
    const char *end = line.p + line.n;
    int k = 0;
    while (k < SQUEUE_FIELDS - 1) {
        const char *bar = memchr(p, '|', (size_t)(end - p));
        if (bar == NULL) {
            break;
        }
        f[k].p = p;
        f[k].n = (size_t)(bar - p);
        k++;
        p = bar + 1;
    }
    rest->p = p;
    rest->n = (size_t)(end - p);
    return k;
}

static int field_str(line_t f, char *buf, size_t size)
{
    if (f.n >= size || memchr(f.p, '\0', f.n) != NULL) {
        return GRIDEMS_EINVAL;
    }
    memcpy(buf, f.p, f.n);
    buf[f.n] = '\0';
    return 0;
}

static int parse_state(const char *s)
{
    if (strcmp(s, "PENDING") == 0) {
        return GRIDEMS__SLURM_PENDING;
    }
    if (strcmp(s, "RUNNING") == 0) {
        return GRIDEMS__SLURM_RUNNING;
    }
    if (strcmp(s, "SUSPENDED") == 0) {
        return GRIDEMS__SLURM_SUSPENDED;
    }
    return 0;
}

/* Fill the Slurm-printed fields of *j from f. Returns 0 or GRIDEMS_EINVAL. */
static int parse_record(const line_t f[SQUEUE_FIELDS - 1], gridems__slurm_job_t *j)
{
    char buf[520];
    memset(j, 0, sizeof *j);
    if (field_str(f[0], j->id, sizeof j->id) < 0 || !gridems__slurm_id_valid(j->id)) {
        return GRIDEMS_EINVAL;
    }
    if (field_str(f[1], buf, 32) < 0 || (j->state = parse_state(buf)) == 0) {
        return GRIDEMS_EINVAL;
    }
    if (field_str(f[2], buf, 16) < 0 || parse_uint(buf, strlen(buf), &j->nodes) < 0 ||
        j->nodes < 1) {
        return GRIDEMS_EINVAL;
    }
    if (field_str(f[3], buf, 32) < 0 || gridems__slurm_parse_duration(buf, &j->time_limit_s) < 0) {
        return GRIDEMS_EINVAL;
    }
    if (field_str(f[4], buf, 32) < 0 || gridems__slurm_parse_duration(buf, &j->time_used_s) < 0) {
        return GRIDEMS_EINVAL;
    }
    if (j->time_used_s < 0) {
        j->time_used_s = 0;
    }
    if (field_str(f[5], buf, 32) < 0 || gridems__slurm_parse_local_time(buf, &j->deadline_ms) < 0) {
        return GRIDEMS_EINVAL;
    }
    if (field_str(f[6], buf, sizeof buf) < 0 ||
        gridems__slurm_parse_gpus(buf, &j->gpus_per_node) < 0) {
        return GRIDEMS_EINVAL;
    }
    /* The reason is Slurm's word; keep a prefix, never more. */
    size_t rn = f[7].n < sizeof j->reason - 1 ? f[7].n : sizeof j->reason - 1;
    memcpy(j->reason, f[7].p, rn);
    j->reason[rn] = '\0';
    return 0;
}

/* Set the job's tag from the comment text (comment bytes, cn; not NUL-terminated). */
static void set_tag(gridems__slurm_job_t *j, const char *comment, size_t cn, int multiline)
{
    if (multiline) {
        j->tag_status = -1;
        snprintf(j->tag_error, sizeof j->tag_error,
                 "comment: spans several lines (refused: it could forge job lines)");
        return;
    }
    if (cn > 4096 || memchr(comment, '\0', cn) != NULL) {
        j->tag_status = -1;
        snprintf(j->tag_error, sizeof j->tag_error, "comment: longer than 4096 bytes or binary");
        return;
    }
    char *c = malloc(cn + 1);
    if (c == NULL) {
        j->tag_status = -1;
        snprintf(j->tag_error, sizeof j->tag_error, "comment: out of memory");
        return;
    }
    memcpy(c, comment, cn);
    c[cn] = '\0';
    int rc = strcmp(c, "(null)") == 0
                 ? 0
                 : gridems__slurm_parse_tag(c, &j->tag, j->tag_error, sizeof j->tag_error);
    free(c);
    j->tag_status = rc < 0 ? -1 : rc;
}

int gridems__slurm_parse_squeue(const char *text, size_t len, size_t max_jobs,
                                gridems__slurm_list_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    size_t cap = 0;
    const char *p = text;
    const char *end = text + len;
    /* The comment being gathered across lines, when a comment holds a newline. */
    int open = 0;
    const char *c_start = NULL;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        line_t line = {p, nl != NULL ? (size_t)(nl - p) : (size_t)(end - p)};
        p = nl != NULL ? nl + 1 : end;
        if (open) {
            /* A continuation of the previous job's comment. */
            if (line.n > 0 && line.p[line.n - 1] == '|') {
                gridems__slurm_job_t *j = &out->jobs[out->n - 1];
                set_tag(j, c_start, (size_t)(line.p + line.n - 1 - c_start), 1);
                open = 0;
            }
            continue;
        }
        if (line.n == 0) {
            continue;
        }
        line_t f[SQUEUE_FIELDS - 1];
        line_t rest;
        gridems__slurm_job_t j;
        if (split_fields(line, f, &rest) != SQUEUE_FIELDS - 1 || parse_record(f, &j) < 0) {
            out->bad_lines++;
            continue;
        }
        if (out->n >= max_jobs) {
            set_err(err, errlen, "squeue: more than %zu jobs", max_jobs);
            return GRIDEMS_ETOOBIG;
        }
        if (out->n == cap) {
            size_t ncap = cap == 0 ? 32 : cap * 2;
            gridems__slurm_job_t *jobs = realloc(out->jobs, ncap * sizeof *jobs);
            if (jobs == NULL) {
                set_err(err, errlen, "squeue: out of memory");
                return GRIDEMS_ENOMEM;
            }
            out->jobs = jobs;
            cap = ncap;
        }
        out->jobs[out->n++] = j;
        if (rest.n > 0 && rest.p[rest.n - 1] == '|') {
            set_tag(&out->jobs[out->n - 1], rest.p, rest.n - 1, 0);
        } else {
            open = 1; /* the comment continues on the next line */
            c_start = rest.p;
        }
    }
    if (open) {
        set_tag(&out->jobs[out->n - 1], c_start, (size_t)(end - c_start), 1);
    }
    /* Ids seen twice: both records are untrusted. Quadratic, bounded by max_jobs. */
    for (size_t i = 0; i < out->n; i++) {
        for (size_t k = i + 1; k < out->n; k++) {
            if (strcmp(out->jobs[i].id, out->jobs[k].id) == 0) {
                if (!out->jobs[i].duplicate) {
                    out->duplicates++;
                }
                out->jobs[i].duplicate = 1;
                out->jobs[k].duplicate = 1;
            }
        }
    }
    return 0;
}

void gridems__slurm_list_free(gridems__slurm_list_t *list)
{
    free(list->jobs);
    memset(list, 0, sizeof *list);
}

/* ---- ## scontrol -o -d show job ---- */

int64_t gridems__slurm_hostlist_count(const char *s)
{
    int64_t total = 0;
    const char *p = s;
    if (*p == '\0') {
        return -1;
    }
    while (*p != '\0') {
        size_t name = strcspn(p, "[,");
        const char *q = p + name;
        if (*q == '[') {
            if (name == 0) {
                return -1;
            }
            q++;
            for (;;) {
                size_t a = strspn(q, "0123456789");
                int64_t lo, hi;
                if (parse_uint(q, a, &lo) < 0) {
                    return -1;
                }
                q += a;
                hi = lo;
                if (*q == '-') {
                    q++;
                    size_t b = strspn(q, "0123456789");
                    if (parse_uint(q, b, &hi) < 0 || hi < lo) {
                        return -1;
                    }
                    q += b;
                }
                total += hi - lo + 1;
                if (total > 1000000) {
                    return -1;
                }
                if (*q == ',') {
                    q++;
                    continue;
                }
                if (*q != ']') {
                    return -1;
                }
                q++;
                break;
            }
            /* A suffix after ']' is allowed by Slurm but rare; refuse to stay simple. */
            if (*q != '\0' && *q != ',') {
                return -1;
            }
        } else {
            if (name == 0) {
                return -1;
            }
            total++;
        }
        p = q;
        if (*p == ',') {
            p++;
            if (*p == '\0') {
                return -1;
            }
        }
    }
    return total;
}

static int safe_list_chars(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!(isalnum((unsigned char)c) || c == '_' || c == '.' || c == ',' || c == '[' ||
              c == ']' || c == '-')) {
            return 0;
        }
    }
    return n > 0;
}

/* The value of token "key=" at p (up to the next space), or NULL if p does not start with it. */
static const char *token_value(const char *p, const char *end, const char *key, size_t *n)
{
    size_t kn = strlen(key);
    if ((size_t)(end - p) < kn || memcmp(p, key, kn) != 0) {
        return NULL;
    }
    const char *v = p + kn;
    const char *sp = memchr(v, ' ', (size_t)(end - v));
    *n = (size_t)((sp != NULL ? sp : end) - v);
    return v;
}

int gridems__slurm_parse_gpu_alloc(const char *text, size_t len, const char *id,
                                   int64_t expected_nodes, gridems__slurm_gpu_group_t *out,
                                   size_t max, size_t *n, char *err, size_t errlen)
{
    *n = 0;
    char head[GRIDEMS__SLURM_ID_MAX + 8];
    snprintf(head, sizeof head, "JobId=%s ", id);
    size_t hn = strlen(head);
    const char *line = NULL;
    size_t line_n = 0;
    const char *p = text;
    const char *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t ln = (size_t)((nl != NULL ? nl : end) - p);
        if (ln >= hn && memcmp(p, head, hn) == 0) {
            if (line != NULL) {
                set_err(err, errlen, "scontrol: two lines for job %s", id);
                return GRIDEMS_EINVAL;
            }
            line = p;
            line_n = ln;
        }
        p = nl != NULL ? nl + 1 : end;
    }
    if (line == NULL) {
        set_err(err, errlen, "scontrol: no line for job %s", id);
        return GRIDEMS_EINVAL;
    }
    const char *le = line + line_n;
    int64_t nodes_seen = 0;
    for (const char *q = line; q < le; q++) {
        if (*q != ' ' && q != line) {
            continue;
        }
        const char *t = *q == ' ' ? q + 1 : q;
        size_t vn;
        const char *nodes = token_value(t, le, "Nodes=", &vn);
        if (nodes == NULL) {
            continue;
        }
        /* Nodes=<list> CPU_IDs=<...> Mem=<n> GRES=<...> */
        const char *after = nodes + vn;
        size_t cn, mn, gn;
        const char *cpu = after < le ? token_value(after + 1, le, "CPU_IDs=", &cn) : NULL;
        const char *mem =
            cpu != NULL && cpu + cn < le ? token_value(cpu + cn + 1, le, "Mem=", &mn) : NULL;
        const char *gres =
            mem != NULL && mem + mn < le ? token_value(mem + mn + 1, le, "GRES=", &gn) : NULL;
        if (gres == NULL) {
            continue; /* a "Nodes=" inside some other text, not a detail group */
        }
        const char *idx = NULL;
        for (const char *g = gres; g + 5 <= gres + gn; g++) {
            if (memcmp(g, "(IDX:", 5) == 0) {
                idx = g + 5;
                break;
            }
        }
        if (idx == NULL) {
            continue; /* this group has no GPU indexes (another GRES) */
        }
        const char *close = memchr(idx, ')', (size_t)(gres + gn - idx));
        if (close == NULL || !safe_list_chars(nodes, vn) || vn >= sizeof out->nodes ||
            !safe_list_chars(idx, (size_t)(close - idx)) ||
            (size_t)(close - idx) >= sizeof out->idx) {
            set_err(err, errlen, "scontrol: job %s: a malformed Nodes=/GRES= group", id);
            return GRIDEMS_EINVAL;
        }
        if (*n >= max) {
            set_err(err, errlen, "scontrol: job %s: more than %zu node groups", id, max);
            return GRIDEMS_ETOOBIG;
        }
        gridems__slurm_gpu_group_t *g = &out[(*n)++];
        memcpy(g->nodes, nodes, vn);
        g->nodes[vn] = '\0';
        memcpy(g->idx, idx, (size_t)(close - idx));
        g->idx[close - idx] = '\0';
        int64_t c = gridems__slurm_hostlist_count(g->nodes);
        if (c < 0) {
            set_err(err, errlen, "scontrol: job %s: malformed node list", id);
            return GRIDEMS_EINVAL;
        }
        nodes_seen += c;
    }
    if (*n == 0) {
        set_err(err, errlen, "scontrol: job %s: no GPU indexes (GRES=...(IDX:...))", id);
        return GRIDEMS_EINVAL;
    }
    if (nodes_seen != expected_nodes) {
        set_err(err, errlen,
                "scontrol: job %s: GPU groups cover %lld nodes, squeue said %lld (refused: the "
                "job's own text may imitate a group)",
                id, (long long)nodes_seen, (long long)expected_nodes);
        *n = 0;
        return GRIDEMS_EINVAL;
    }
    return 0;
}
