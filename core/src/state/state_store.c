/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "state_store.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "file_util.h"
#include "gridems/errors.h"
#include "optimizer_internal.h"
#include "state_reader.h"
#include "timeutil.h"

/* Room for the longest field path we print, e.g. "jobs[9999].delivered_kwh". */
#define PATH_CAP 64

/* ---- ## Small helpers ---- */

static bool printable_ascii(const char *s)
{
    for (; *s != '\0'; s++) {
        if (*s < 0x20 || *s > 0x7E) {
            return false;
        }
    }
    return true;
}

/* A double written so that it reads back exactly: the shortest of %.15g, %.16g, %.17g that
 * round-trips (cJSON's printer only checks to within an epsilon). */
static cJSON *exact_number(double v)
{
    char buf[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) {
            break;
        }
    }
    return cJSON_CreateRaw(buf);
}

static cJSON *integer_number(uint64_t v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%" PRIu64, v);
    return cJSON_CreateRaw(buf);
}

/* Add item to obj under key; on failure the item is freed (cJSON leaves it to the caller). */
static bool add(cJSON *obj, const char *key, cJSON *item)
{
    if (item == NULL) {
        return false;
    }
    if (!cJSON_AddItemToObject(obj, key, item)) {
        cJSON_Delete(item);
        return false;
    }
    return true;
}

static cJSON *iso_string(int64_t ms)
{
    char buf[GRIDEMS_TIME_ISO_BUFLEN];
    if (gridems_time_format_iso(ms, 0, buf, sizeof buf) != 0) {
        return NULL;
    }
    return cJSON_CreateString(buf);
}

static bool time_in_range(int64_t ms)
{
    return ms >= GRIDEMS_TIME_MIN_MS && ms <= GRIDEMS_TIME_MAX_MS;
}

/* ---- ## Life cycle ---- */

void gridems_state_init(gridems_state_t *st)
{
    memset(st, 0, sizeof *st);
    st->next_plan_id = 1;
}

void gridems_state_free(gridems_state_t *st)
{
    if (st == NULL) {
        return;
    }
    for (int i = 0; i < st->n_jobs; i++) {
        free(st->jobs[i].id);
    }
    free(st->jobs);
    free(st->plan_json);
    gridems_state_init(st);
}

/* ---- ## Writing ---- */

char *gridems_state_to_json(const gridems_state_t *st)
{
    cJSON *root = cJSON_CreateObject();
    if (root == NULL) {
        return NULL;
    }
    uint64_t next = st->next_plan_id;
    if (st->plan_id_reserve > 0) {
        uint64_t room = GRIDEMS_STATE_MAX_PLAN_ID - next;
        next += (uint64_t)st->plan_id_reserve < room ? (uint64_t)st->plan_id_reserve : room;
    }
    bool ok = add(root, "version", integer_number(GRIDEMS_STATE_VERSION)) &&
              add(root, "next_plan_id", integer_number(next));
    if (ok && st->has_peak) {
        cJSON *peak = cJSON_CreateObject();
        ok = add(root, "peak", peak) && add(peak, "kw", exact_number(st->peak_kw)) &&
             add(peak, "period", cJSON_CreateString(st->peak_period));
    }
    cJSON *jobs = ok ? cJSON_CreateArray() : NULL;
    ok = ok && add(root, "jobs", jobs);
    for (int i = 0; ok && i < st->n_jobs; i++) {
        const gridems_state_job_t *j = &st->jobs[i];
        cJSON *job = cJSON_CreateObject();
        ok = job != NULL && cJSON_AddItemToArray(jobs, job);
        if (!ok) {
            cJSON_Delete(job);
            break;
        }
        ok = add(job, "id", cJSON_CreateString(j->id)) &&
             add(job, "delivered_kwh", exact_number(j->delivered_kwh)) &&
             add(job, "deadline", iso_string(j->deadline_ms));
    }
    if (ok && st->has_plan) {
        cJSON *plan = cJSON_CreateObject();
        ok = add(root, "last_plan", plan) && add(plan, "id", integer_number(st->plan_id)) &&
             add(plan, "created", iso_string(st->plan_created_ms)) &&
             add(plan, "schedule", cJSON_CreateString(st->plan_json));
    }
    char *text = NULL;
    if (ok) {
        /* Indented, so an operator can read the file; cJSON_Print allocates with malloc (the
         * default hooks), so the caller's free() matches. */
        text = cJSON_Print(root);
    }
    cJSON_Delete(root);
    return text;
}

int gridems_state_save(const char *dir, const gridems_state_t *st, char *err, size_t errlen)
{
    size_t plen = strlen(dir) + sizeof "/" GRIDEMS_STATE_FILE;
    char *path = malloc(plen);
    if (path == NULL) {
        return GRIDEMS_ENOMEM;
    }
    snprintf(path, plen, "%s/%s", dir, GRIDEMS_STATE_FILE);
    state_reader_t r = {.name = path, .err = err, .errlen = errlen};
    int rc = 0;
    /* The service may start on a fresh machine: create the directory itself (not its parents;
     * a missing parent more likely means a wrong path than a fresh install). */
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        rc = gridems_state_reader_fail(&r, GRIDEMS_EIO, NULL, "cannot create the directory %s: %s",
                                       dir, strerror(errno));
    }
    char *text = rc == 0 ? gridems_state_to_json(st) : NULL;
    if (rc == 0 && text == NULL) {
        rc = gridems_state_reader_fail(&r, GRIDEMS_ENOMEM, NULL, "out of memory");
    }
    if (rc == 0) {
        rc = gridems_write_file_atomic(path, text, strlen(text));
        if (rc != 0) {
            int cause = errno;
            rc = gridems_state_reader_fail(&r, rc, NULL, "cannot write: %s", strerror(cause));
            errno = cause;
        }
    }
    int cause = errno;
    free(text);
    free(path);
    errno = cause;
    return rc;
}

/* ---- ## Reading ---- */

/* Keys written by a newer format, or by hand, are refused: the version says what is allowed.
 * (Duplicate keys never get here: the parse refuses them, state_reader.h.) */
static int check_keys(const state_reader_t *r, const cJSON *obj, const char *path,
                      const char *const *allowed)
{
    for (const cJSON *it = obj->child; it != NULL; it = it->next) {
        bool known = false;
        for (const char *const *k = allowed; *k != NULL; k++) {
            known = known || strcmp(*k, it->string) == 0;
        }
        if (!known) {
            char p[PATH_CAP * 2];
            snprintf(p, sizeof p, "%s%s%.40s", path, path[0] != '\0' ? "." : "", it->string);
            return gridems_state_reader_fail(r, GRIDEMS_EINVAL, p, "unknown key");
        }
    }
    return 0;
}

static int want_object(const state_reader_t *r, const cJSON *v, const char *path)
{
    return cJSON_IsObject(v)
               ? 0
               : gridems_state_reader_fail(r, GRIDEMS_EINVAL, path, "must be an object, got %s",
                                           gridems__json_type_name(v));
}

/* A finite number >= 0 (and <= max). */
static int read_nonneg(const state_reader_t *r, const cJSON *v, const char *path, double max,
                       double *out)
{
    if (!cJSON_IsNumber(v)) {
        return gridems_state_reader_fail(r, GRIDEMS_EINVAL, path, "must be a number >= 0, got %s",
                                         gridems__json_type_name(v));
    }
    if (!isfinite(v->valuedouble) || v->valuedouble < 0 || v->valuedouble > max) {
        return gridems_state_reader_fail(r, GRIDEMS_EINVAL, path,
                                         "must be a number in 0..%g, got %g", max, v->valuedouble);
    }
    *out = v->valuedouble;
    return 0;
}

static int read_id(const state_reader_t *r, const cJSON *v, const char *path, uint64_t lo,
                   uint64_t *out)
{
    if (!cJSON_IsNumber(v)) {
        return gridems_state_reader_fail(r, GRIDEMS_EINVAL, path, "must be an integer, got %s",
                                         gridems__json_type_name(v));
    }
    double d = v->valuedouble;
    if (!isfinite(d) || d != floor(d) || d < (double)lo || d > (double)GRIDEMS_STATE_MAX_PLAN_ID) {
        return gridems_state_reader_fail(r, GRIDEMS_EINVAL, path,
                                         "must be an integer in %" PRIu64 "..%" PRIu64 ", got %g",
                                         lo, GRIDEMS_STATE_MAX_PLAN_ID, d);
    }
    *out = (uint64_t)d;
    return 0;
}

static int read_time(const state_reader_t *r, const cJSON *v, const char *path, int64_t *out)
{
    if (!cJSON_IsString(v)) {
        return gridems_state_reader_fail(r, GRIDEMS_EINVAL, path,
                                         "must be an ISO time string, got %s",
                                         gridems__json_type_name(v));
    }
    char why[160] = "";
    if (gridems_time_parse_iso(v->valuestring, out, NULL, why, sizeof why) != 0) {
        return gridems_state_reader_fail(r, GRIDEMS_EINVAL, path, "%s", why);
    }
    return 0;
}

static int read_peak(const state_reader_t *r, const cJSON *peak, gridems_state_t *st)
{
    static const char *const keys[] = {"kw", "period", NULL};
    int rc = want_object(r, peak, "peak");
    if (rc != 0 || (rc = check_keys(r, peak, "peak", keys)) != 0 ||
        (rc = read_nonneg(r, cJSON_GetObjectItemCaseSensitive(peak, "kw"), "peak.kw", 1e15,
                          &st->peak_kw)) != 0) {
        return rc;
    }
    const cJSON *period = cJSON_GetObjectItemCaseSensitive(peak, "period");
    if (!cJSON_IsString(period)) {
        return gridems_state_reader_fail(r, GRIDEMS_EINVAL, "peak.period",
                                         "must be a string, got %s",
                                         gridems__json_type_name(period));
    }
    size_t n = strlen(period->valuestring);
    if (n == 0 || n >= GRIDEMS_BILLING_KEY_MAX || !printable_ascii(period->valuestring)) {
        return gridems_state_reader_fail(r, GRIDEMS_EINVAL, "peak.period",
                                         "must be 1 to %d printable characters",
                                         GRIDEMS_BILLING_KEY_MAX - 1);
    }
    memcpy(st->peak_period, period->valuestring, n + 1);
    st->has_peak = true;
    return 0;
}

static int compare_job_ids(const void *a, const void *b)
{
    const gridems_state_job_t *const *ja = a;
    const gridems_state_job_t *const *jb = b;
    int c = strcmp((*ja)->id, (*jb)->id);
    /* Ties broken by position, so the message names the later duplicate. */
    return c != 0 ? c : (*ja < *jb ? -1 : (*ja > *jb));
}

static int read_jobs(const state_reader_t *r, const cJSON *jobs, gridems_state_t *st)
{
    static const char *const keys[] = {"id", "delivered_kwh", "deadline", NULL};
    if (!cJSON_IsArray(jobs)) {
        return gridems_state_reader_fail(r, GRIDEMS_EINVAL, "jobs", "must be an array, got %s",
                                         gridems__json_type_name(jobs));
    }
    int n = cJSON_GetArraySize(jobs);
    if (n > GRIDEMS_STATE_MAX_JOBS) {
        return gridems_state_reader_fail(r, GRIDEMS_EINVAL, "jobs", "at most %d entries, got %d",
                                         GRIDEMS_STATE_MAX_JOBS, n);
    }
    if (n == 0) {
        return 0;
    }
    st->jobs = calloc((size_t)n, sizeof *st->jobs);
    if (st->jobs == NULL) {
        return gridems_state_reader_fail(r, GRIDEMS_ENOMEM, NULL, "out of memory");
    }
    st->cap_jobs = n;
    int i = 0;
    for (const cJSON *it = jobs->child; it != NULL; it = it->next, i++) {
        char path[PATH_CAP], field[PATH_CAP * 2];
        snprintf(path, sizeof path, "jobs[%d]", i);
        int rc = want_object(r, it, path);
        if (rc != 0 || (rc = check_keys(r, it, path, keys)) != 0) {
            return rc;
        }
        gridems_state_job_t *j = &st->jobs[i];
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "id");
        snprintf(field, sizeof field, "%s.id", path);
        if (!cJSON_IsString(id)) {
            return gridems_state_reader_fail(r, GRIDEMS_EINVAL, field, "must be a string, got %s",
                                             gridems__json_type_name(id));
        }
        size_t len = strlen(id->valuestring);
        if (len == 0 || len > GRIDEMS_STATE_MAX_ID_BYTES) {
            return gridems_state_reader_fail(r, GRIDEMS_EINVAL, field, "must be 1 to %d bytes long",
                                             GRIDEMS_STATE_MAX_ID_BYTES);
        }
        snprintf(field, sizeof field, "%s.delivered_kwh", path);
        if ((rc = read_nonneg(r, cJSON_GetObjectItemCaseSensitive(it, "delivered_kwh"), field, 1e15,
                              &j->delivered_kwh)) != 0) {
            return rc;
        }
        snprintf(field, sizeof field, "%s.deadline", path);
        if ((rc = read_time(r, cJSON_GetObjectItemCaseSensitive(it, "deadline"), field,
                            &j->deadline_ms)) != 0) {
            return rc;
        }
        j->id = strdup(id->valuestring);
        if (j->id == NULL) {
            return gridems_state_reader_fail(r, GRIDEMS_ENOMEM, NULL, "out of memory");
        }
        st->n_jobs = i + 1;
    }
    /* Duplicate ids would make "delivered so far" ambiguous. Sorting pointers finds them in
     * n log n, which matters at the 10000-job bound. */
    const gridems_state_job_t **sorted = malloc((size_t)n * sizeof *sorted);
    if (sorted == NULL) {
        return gridems_state_reader_fail(r, GRIDEMS_ENOMEM, NULL, "out of memory");
    }
    for (int k = 0; k < n; k++) {
        sorted[k] = &st->jobs[k];
    }
    qsort(sorted, (size_t)n, sizeof *sorted, compare_job_ids);
    int rc = 0;
    for (int k = 1; k < n && rc == 0; k++) {
        if (strcmp(sorted[k - 1]->id, sorted[k]->id) == 0) {
            char path[PATH_CAP];
            snprintf(path, sizeof path, "jobs[%d].id", (int)(sorted[k] - st->jobs));
            rc = gridems_state_reader_fail(r, GRIDEMS_EINVAL, path,
                                           "duplicate id \"%.80s\" (also jobs[%d])", sorted[k]->id,
                                           (int)(sorted[k - 1] - st->jobs));
        }
    }
    free(sorted);
    return rc;
}

static int read_plan(const state_reader_t *r, const cJSON *plan, gridems_state_t *st)
{
    static const char *const keys[] = {"id", "created", "schedule", NULL};
    int rc = want_object(r, plan, "last_plan");
    if (rc != 0 || (rc = check_keys(r, plan, "last_plan", keys)) != 0 ||
        (rc = read_id(r, cJSON_GetObjectItemCaseSensitive(plan, "id"), "last_plan.id", 1,
                      &st->plan_id)) != 0 ||
        (rc = read_time(r, cJSON_GetObjectItemCaseSensitive(plan, "created"), "last_plan.created",
                        &st->plan_created_ms)) != 0) {
        return rc;
    }
    const cJSON *sched = cJSON_GetObjectItemCaseSensitive(plan, "schedule");
    if (!cJSON_IsString(sched)) {
        return gridems_state_reader_fail(r, GRIDEMS_EINVAL, "last_plan.schedule",
                                         "must be a string, got %s",
                                         gridems__json_type_name(sched));
    }
    size_t len = strlen(sched->valuestring);
    if (len == 0 || len > GRIDEMS_STATE_MAX_PLAN_BYTES) {
        return gridems_state_reader_fail(r, GRIDEMS_EINVAL, "last_plan.schedule",
                                         "must be 1 to %zu bytes long",
                                         GRIDEMS_STATE_MAX_PLAN_BYTES);
    }
    /* The service republishes this text as the retained schedule: make sure it is a JSON
     * object, so a damaged file cannot put garbage on the wire. */
    cJSON *doc = cJSON_ParseWithLength(sched->valuestring, len);
    bool is_object = cJSON_IsObject(doc);
    cJSON_Delete(doc);
    if (!is_object) {
        return gridems_state_reader_fail(r, GRIDEMS_EINVAL, "last_plan.schedule",
                                         "must hold a JSON object");
    }
    st->plan_json = strdup(sched->valuestring);
    if (st->plan_json == NULL) {
        return gridems_state_reader_fail(r, GRIDEMS_ENOMEM, NULL, "out of memory");
    }
    st->plan_len = len;
    st->has_plan = true;
    return 0;
}

static int read_root(const state_reader_t *r, const cJSON *root, gridems_state_t *st)
{
    static const char *const keys[] = {"version", "next_plan_id", "peak",
                                       "jobs",    "last_plan",    NULL};
    if (!cJSON_IsObject(root)) {
        return gridems_state_reader_fail(r, GRIDEMS_EINVAL, NULL,
                                         "the top level must be an object, got %s",
                                         gridems__json_type_name(root));
    }
    /* The version first: a newer file may legitimately have keys this program does not know. */
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(root, "version");
    if (!cJSON_IsNumber(version)) {
        return gridems_state_reader_fail(r, GRIDEMS_EINVAL, "version", "must be a number, got %s",
                                         gridems__json_type_name(version));
    }
    if (version->valuedouble != GRIDEMS_STATE_VERSION) {
        return gridems_state_reader_fail(r, GRIDEMS_EINVAL, "version",
                                         "unsupported version %g (this program reads version %d)",
                                         version->valuedouble, GRIDEMS_STATE_VERSION);
    }
    int rc = check_keys(r, root, "", keys);
    if (rc != 0 || (rc = read_id(r, cJSON_GetObjectItemCaseSensitive(root, "next_plan_id"),
                                 "next_plan_id", 1, &st->next_plan_id)) != 0) {
        return rc;
    }
    const cJSON *peak = cJSON_GetObjectItemCaseSensitive(root, "peak");
    const cJSON *jobs = cJSON_GetObjectItemCaseSensitive(root, "jobs");
    const cJSON *plan = cJSON_GetObjectItemCaseSensitive(root, "last_plan");
    if ((peak != NULL && (rc = read_peak(r, peak, st)) != 0) ||
        (jobs != NULL && (rc = read_jobs(r, jobs, st)) != 0) ||
        (plan != NULL && (rc = read_plan(r, plan, st)) != 0)) {
        return rc;
    }
    if (st->has_plan && st->next_plan_id <= st->plan_id &&
        st->plan_id < GRIDEMS_STATE_MAX_PLAN_ID) {
        return gridems_state_reader_fail(r, GRIDEMS_EINVAL, "next_plan_id",
                                         "must be greater than last_plan.id (%" PRIu64
                                         "), got %" PRIu64,
                                         st->plan_id, st->next_plan_id);
    }
    return 0;
}

int gridems_state_parse(const char *text, size_t len, const char *name, gridems_state_t *st,
                        char *err, size_t errlen)
{
    state_reader_t r = {
        .name = name != NULL ? name : GRIDEMS_STATE_FILE, .err = err, .errlen = errlen};
    gridems_state_init(st);
    if (err != NULL && errlen > 0) {
        err[0] = '\0';
    }
    cJSON *root = NULL;
    int rc = gridems_state_reader_parse(&r, text, len, &root);
    if (rc != 0) {
        return rc;
    }
    rc = read_root(&r, root, st);
    cJSON_Delete(root);
    if (rc != 0) {
        gridems_state_free(st);
    }
    return rc;
}

int gridems_state_load(const char *dir, gridems_state_t *st, char *err, size_t errlen)
{
    gridems_state_init(st);
    size_t plen = strlen(dir) + sizeof "/" GRIDEMS_STATE_FILE;
    char *path = malloc(plen);
    if (path == NULL) {
        return GRIDEMS_ENOMEM;
    }
    snprintf(path, plen, "%s/%s", dir, GRIDEMS_STATE_FILE);
    char *text = NULL;
    size_t len = 0;
    int rc = gridems_read_file(path, &text, &len);
    if (rc == GRIDEMS_ENOENT) {
        /* First start (or a state_dir that does not exist yet): nothing to resume. */
        free(path);
        return 0;
    }
    if (rc != 0) {
        state_reader_t r = {.name = path, .err = err, .errlen = errlen};
        gridems_state_reader_fail(&r, rc, NULL, "cannot read: %s", gridems_strerror(rc));
        free(path);
        return rc;
    }
    rc = gridems_state_parse(text, len, path, st, err, errlen);
    st->loaded = rc == 0;
    free(text);
    free(path);
    return rc;
}

/* ---- ## Billing-period peak ---- */

double gridems_state_peak_kw(const gridems_state_t *st, const char *period)
{
    if (!st->has_peak || period == NULL || strcmp(st->peak_period, period) != 0) {
        return 0.0;
    }
    return st->peak_kw;
}

int gridems_state_note_import(gridems_state_t *st, const char *period, double kw)
{
    if (period == NULL || !isfinite(kw) || kw > 1e15) {
        return GRIDEMS_EINVAL;
    }
    size_t n = strlen(period);
    if (n == 0 || n >= GRIDEMS_BILLING_KEY_MAX || !printable_ascii(period)) {
        return GRIDEMS_EINVAL;
    }
    if (kw < 0) {
        kw = 0;
    }
    if (st->has_peak && strcmp(st->peak_period, period) == 0) {
        if (kw <= st->peak_kw) {
            return 0;
        }
        st->peak_kw = kw;
        return 1;
    }
    st->has_peak = true;
    st->peak_kw = kw;
    memcpy(st->peak_period, period, n + 1);
    return 1;
}

/* ---- ## Jobs ---- */

static int job_index(const gridems_state_t *st, const char *id)
{
    for (int i = 0; i < st->n_jobs; i++) {
        if (strcmp(st->jobs[i].id, id) == 0) {
            return i;
        }
    }
    return -1;
}

int gridems_state_set_job(gridems_state_t *st, const char *id, double delivered_kwh,
                          int64_t deadline_ms)
{
    if (id == NULL || id[0] == '\0' || strlen(id) > GRIDEMS_STATE_MAX_ID_BYTES ||
        !isfinite(delivered_kwh) || delivered_kwh < 0 || delivered_kwh > 1e15 ||
        !time_in_range(deadline_ms)) {
        return GRIDEMS_EINVAL;
    }
    int i = job_index(st, id);
    if (i >= 0) {
        st->jobs[i].delivered_kwh = delivered_kwh;
        st->jobs[i].deadline_ms = deadline_ms;
        return 0;
    }
    char *copy = strdup(id);
    if (copy == NULL) {
        return GRIDEMS_ENOMEM;
    }
    if (st->n_jobs >= GRIDEMS_STATE_MAX_JOBS) {
        /* Full: the job due first is the one most likely over (a missed prune) or soonest
         * finished, so it is the one to forget. */
        int victim = 0;
        for (int k = 1; k < st->n_jobs; k++) {
            if (st->jobs[k].deadline_ms < st->jobs[victim].deadline_ms) {
                victim = k;
            }
        }
        free(st->jobs[victim].id);
        st->jobs[victim] = (gridems_state_job_t){copy, delivered_kwh, deadline_ms};
        return 0;
    }
    if (st->n_jobs == st->cap_jobs) {
        int cap = st->cap_jobs < 8 ? 8 : st->cap_jobs * 2;
        if (cap > GRIDEMS_STATE_MAX_JOBS) {
            cap = GRIDEMS_STATE_MAX_JOBS;
        }
        gridems_state_job_t *bigger = realloc(st->jobs, (size_t)cap * sizeof *bigger);
        if (bigger == NULL) {
            free(copy);
            return GRIDEMS_ENOMEM;
        }
        st->jobs = bigger;
        st->cap_jobs = cap;
    }
    st->jobs[st->n_jobs++] = (gridems_state_job_t){copy, delivered_kwh, deadline_ms};
    return 0;
}

const gridems_state_job_t *gridems_state_find_job(const gridems_state_t *st, const char *id)
{
    if (id == NULL) {
        return NULL;
    }
    int i = job_index(st, id);
    return i >= 0 ? &st->jobs[i] : NULL;
}

static void remove_at(gridems_state_t *st, int i)
{
    free(st->jobs[i].id);
    st->jobs[i] = st->jobs[st->n_jobs - 1];
    st->n_jobs--;
}

int gridems_state_remove_job(gridems_state_t *st, const char *id)
{
    int i = id != NULL ? job_index(st, id) : -1;
    if (i < 0) {
        return 0;
    }
    remove_at(st, i);
    return 1;
}

int gridems_state_prune_jobs(gridems_state_t *st, int64_t now_ms)
{
    int removed = 0;
    for (int i = 0; i < st->n_jobs;) {
        if (st->jobs[i].deadline_ms <= now_ms) {
            remove_at(st, i); /* the last entry moved into i: look at i again */
            removed++;
        } else {
            i++;
        }
    }
    return removed;
}

/* ---- ## Plans ---- */

int gridems_state_set_plan(gridems_state_t *st, uint64_t plan_id, int64_t created_ms,
                           const char *json, size_t len)
{
    if (plan_id < 1 || plan_id > GRIDEMS_STATE_MAX_PLAN_ID || !time_in_range(created_ms) ||
        json == NULL || len == 0 || len > GRIDEMS_STATE_MAX_PLAN_BYTES ||
        memchr(json, '\0', len) != NULL) {
        return GRIDEMS_EINVAL;
    }
    char *copy = malloc(len + 1);
    if (copy == NULL) {
        return GRIDEMS_ENOMEM;
    }
    memcpy(copy, json, len);
    copy[len] = '\0';
    free(st->plan_json);
    st->plan_json = copy;
    st->plan_len = len;
    st->plan_id = plan_id;
    st->plan_created_ms = created_ms;
    st->has_plan = true;
    if (st->next_plan_id <= plan_id) {
        st->next_plan_id = plan_id < GRIDEMS_STATE_MAX_PLAN_ID ? plan_id + 1 : plan_id;
    }
    return 0;
}

uint64_t gridems_state_take_plan_id(gridems_state_t *st)
{
    if (st->next_plan_id < 1) {
        st->next_plan_id = 1;
    }
    uint64_t id = st->next_plan_id;
    if (id < GRIDEMS_STATE_MAX_PLAN_ID) {
        st->next_plan_id = id + 1;
    }
    return id;
}
