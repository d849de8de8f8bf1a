/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The simulators' time stamps and data files; see sim_files.h. */
#include "sim_files.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* ---- ## Time ---- */

/* Exactly n decimal digits at *p; advances *p. Returns 0 or -1. */
static int take_digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9') {
            return -1;
        }
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

static int days_in_month(int year, int month)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return days[month - 1] + (month == 2 && leap ? 1 : 0);
}

int gridems__sim_parse_iso(const char *s, int64_t *ms)
{
    if (s == NULL) {
        return -1;
    }
    const char *p = s;
    int year, month, day, hour, minute, second = 0, millis = 0;
    if (take_digits(&p, 4, &year) < 0 || *p++ != '-' || take_digits(&p, 2, &month) < 0 ||
        *p++ != '-' || take_digits(&p, 2, &day) < 0) {
        return -1;
    }
    if (*p != 'T' && *p != 't' && *p != ' ') {
        return -1;
    }
    p++;
    if (take_digits(&p, 2, &hour) < 0 || *p++ != ':' || take_digits(&p, 2, &minute) < 0) {
        return -1;
    }
    if (*p == ':') {
        p++;
        if (take_digits(&p, 2, &second) < 0) {
            return -1;
        }
        if (*p == '.' || *p == ',') {
            p++;
            int scale = 100;
            if (*p < '0' || *p > '9') {
                return -1;
            }
            while (*p >= '0' && *p <= '9') {
                millis += (*p - '0') * scale; /* digits past the millisecond are dropped */
                scale /= 10;
                p++;
            }
        }
    }
    int offset_min;
    if (*p == 'Z' || *p == 'z') {
        offset_min = 0;
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1;
        int oh, om;
        p++;
        if (take_digits(&p, 2, &oh) < 0) {
            return -1;
        }
        if (*p == ':') {
            p++;
        }
        if (take_digits(&p, 2, &om) < 0 || oh > 23 || om > 59) {
            return -1;
        }
        offset_min = sign * (oh * 60 + om);
    } else {
        return -1;
    }
    if (*p != '\0') {
        return -1;
    }
    if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) || hour > 23 ||
        minute > 59 || second > 60) {
        return -1;
    }
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    tm.tm_year = year - 1900;
    tm.tm_mon = month - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = minute;
    tm.tm_sec = second;
    time_t t = timegm(&tm);
    *ms = (int64_t)t * 1000 + millis - (int64_t)offset_min * 60000;
    return 0;
}

/* ---- ## Files and CSV ---- */

char *gridems__sim_read_file(const char *path, size_t max_bytes, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s is not a regular file", path);
        fclose(f);
        return NULL;
    }
    if ((uintmax_t)st.st_size > (uintmax_t)max_bytes) {
        snprintf(err, errlen, "%s is larger than %zu bytes", path, max_bytes);
        fclose(f);
        return NULL;
    }
    size_t size = (size_t)st.st_size;
    char *text = malloc(size + 1);
    if (text == NULL) {
        snprintf(err, errlen, "out of memory reading %s", path);
        fclose(f);
        return NULL;
    }
    size_t got = fread(text, 1, size, f);
    int failed = ferror(f);
    fclose(f);
    if (failed || got != size) {
        snprintf(err, errlen, "cannot read %s", path);
        free(text);
        return NULL;
    }
    text[size] = '\0';
    return text;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t') {
        s++;
    }
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r')) {
        s[--n] = '\0';
    }
    return s;
}

char *gridems__sim_next_line(char **cursor, int *lineno)
{
    while (*cursor != NULL && **cursor != '\0') {
        char *line = *cursor;
        char *nl = strchr(line, '\n');
        if (nl != NULL) {
            *nl = '\0';
            *cursor = nl + 1;
        } else {
            *cursor = line + strlen(line);
        }
        (*lineno)++;
        if (*lineno == 1 && (unsigned char)line[0] == 0xEF && (unsigned char)line[1] == 0xBB &&
            (unsigned char)line[2] == 0xBF) {
            line += 3; /* a UTF-8 byte order mark, as spreadsheet exports write */
        }
        line = trim(line);
        if (line[0] == '\0' || line[0] == '#') {
            continue;
        }
        return line;
    }
    return NULL;
}

int gridems__sim_split_csv(char *line, char **fields, int max)
{
    int n = 0;
    char *p = line;
    for (;;) {
        char *comma = strchr(p, ',');
        if (comma != NULL) {
            *comma = '\0';
        }
        if (n < max) {
            fields[n] = trim(p);
        }
        n++;
        if (comma == NULL || n > max) {
            break;
        }
        p = comma + 1;
    }
    return n;
}

int gridems__sim_parse_double(const char *s, double *out)
{
    if (s == NULL || *s == '\0') {
        return -1;
    }
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (*end != '\0' || errno != 0 || !isfinite(v)) {
        return -1;
    }
    *out = v;
    return 0;
}
