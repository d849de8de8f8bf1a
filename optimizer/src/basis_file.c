/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The optimal basis as text, kept across restarts (gridems_optimizer_basis_save/_restore in
 * optimizer.h). The file is one JSON object:
 *
 *   {"format": "gridems-basis", "version": 1, "start_ms": <step 0 of the scenario, ms>,
 *    "cold_iterations": <last cold solve>, "cold_rows": <its rows>,
 *    "rows": "BLLU...", "columns": "LBBS...", "scenario": {<the scenario solved, v1>}}
 *
 * One letter per row and column of the program, in order: B basic, L at its lower bound, U at its
 * upper bound, F free non-basic, S fixed. The program is built again from the scenario on restore
 * (the same code builds the same rows and columns), so the statuses need no names; restore
 * checks the counts (as many letters as rows and columns, as many B as rows) and the carry-over
 * into the next problem repairs whatever else no longer fits.
 */
#include "basis_file.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gridems/errors.h"
#include "optimizer_internal.h"

#define BASIS_FORMAT "gridems-basis"
#define BASIS_VERSION 1

static const char status_letters[] = "?BLUFS"; /* indexed by GLP_BS (1) .. GLP_NS (5) */

static int status_of_letter(char c)
{
    const char *at = strchr(status_letters + 1, c);
    return c != '\0' && at != NULL ? (int)(at - status_letters) : 0;
}

/* The letters of n rows (or columns) of lp into out[n] (no terminator). */
static void write_letters(glp_prob *lp, bool rows, int n, char *out)
{
    for (int i = 1; i <= n; i++) {
        int st = rows ? glp_get_row_stat(lp, i) : glp_get_col_stat(lp, i);
        out[i - 1] = st >= GLP_BS && st <= GLP_NS ? status_letters[st] : 'L';
    }
}

int gridems_optimizer_basis_save(gridems_optimizer_t *opt, const gridems_scenario_t *sc,
                                 int64_t start_ms, char **out, size_t *len)
{
    *out = NULL;
    int cold_iterations, cold_rows;
    glp_prob *lp = gridems__optimizer_basis_lp(opt, true, &cold_iterations, &cold_rows);
    if (lp == NULL) {
        return GRIDEMS_ESTATE;
    }
    int m = glp_get_num_rows(lp), n = glp_get_num_cols(lp);
    char *scenario = gridems_scenario_to_json(sc);
    if (scenario == NULL) {
        return GRIDEMS_ENOMEM;
    }
    char head[256];
    int head_len = snprintf(head, sizeof head,
                            "{\"format\":\"%s\",\"version\":%d,\"start_ms\":%" PRId64
                            ",\"cold_iterations\":%d,\"cold_rows\":%d,\"rows\":\"",
                            BASIS_FORMAT, BASIS_VERSION, start_ms, cold_iterations, cold_rows);
    size_t scenario_len = strlen(scenario);
    size_t total = (size_t)head_len + (size_t)m + sizeof "\",\"columns\":\"" - 1 + (size_t)n +
                   sizeof "\",\"scenario\":" - 1 + scenario_len + sizeof "}\n";
    char *text = malloc(total);
    if (text == NULL) {
        free(scenario);
        return GRIDEMS_ENOMEM;
    }
    char *w = text;
    memcpy(w, head, (size_t)head_len);
    w += head_len;
    write_letters(lp, true, m, w);
    w += m;
    w += sprintf(w, "\",\"columns\":\"");
    write_letters(lp, false, n, w);
    w += n;
    w += sprintf(w, "\",\"scenario\":");
    memcpy(w, scenario, scenario_len);
    w += scenario_len;
    w += sprintf(w, "}\n");
    free(scenario);
    *out = text;
    if (len != NULL) {
        *len = (size_t)(w - text);
    }
    return 0;
}

/* A string of status letters under key: its length in *n; NULL (err set) when it is missing or
 * holds another character. */
static const char *letters(const cJSON *root, const char *key, int *n, char *err, size_t errlen)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!cJSON_IsString(item)) {
        gridems_set_err(err, errlen, "basis: \"%s\" must be a string of status letters", key);
        return NULL;
    }
    const char *s = item->valuestring;
    size_t len = strlen(s);
    for (size_t i = 0; i < len; i++) {
        if (status_of_letter(s[i]) == 0) {
            gridems_set_err(err, errlen, "basis: \"%s\"[%zu] is '%c', not one of B, L, U, F, S",
                            key, i, s[i]);
            return NULL;
        }
    }
    *n = len > (size_t)INT32_MAX ? -1 : (int)len;
    return s;
}

/* A whole number under key, in [lo, hi]. */
static bool whole(const cJSON *root, const char *key, double lo, double hi, double *v, char *err,
                  size_t errlen)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!cJSON_IsNumber(item) || item->valuedouble != floor(item->valuedouble) ||
        item->valuedouble < lo || item->valuedouble > hi) {
        gridems_set_err(err, errlen, "basis: \"%s\" must be a whole number in [%.0f, %.0f]", key,
                        lo, hi);
        return false;
    }
    *v = item->valuedouble;
    return true;
}

static int restore_tree(gridems_optimizer_t *opt, const cJSON *root, int64_t *start_ms, char *err,
                        size_t errlen)
{
    const cJSON *format = cJSON_GetObjectItemCaseSensitive(root, "format");
    if (!cJSON_IsString(format) || strcmp(format->valuestring, BASIS_FORMAT) != 0) {
        gridems_set_err(err, errlen, "basis: \"format\" must be \"%s\"", BASIS_FORMAT);
        return GRIDEMS_EINVAL;
    }
    double version, start, cold_iterations, cold_rows;
    if (!whole(root, "version", 1, 1e9, &version, err, errlen)) {
        return GRIDEMS_EINVAL;
    }
    if (version != BASIS_VERSION) {
        gridems_set_err(err, errlen,
                        "basis: \"version\" %.0f is not %d (written by another gridems)", version,
                        BASIS_VERSION);
        return GRIDEMS_EINVAL;
    }
    if (!whole(root, "start_ms", -9007199254740992.0, 9007199254740992.0, &start, err, errlen) ||
        !whole(root, "cold_iterations", 0, 2e9, &cold_iterations, err, errlen) ||
        !whole(root, "cold_rows", 0, 2e9, &cold_rows, err, errlen)) {
        return GRIDEMS_EINVAL;
    }
    int m = 0, n = 0;
    const char *rows = letters(root, "rows", &m, err, errlen);
    const char *columns = rows != NULL ? letters(root, "columns", &n, err, errlen) : NULL;
    if (columns == NULL) {
        return GRIDEMS_EINVAL;
    }
    const cJSON *scenario = cJSON_GetObjectItemCaseSensitive(root, "scenario");
    if (!cJSON_IsObject(scenario)) {
        gridems_set_err(err, errlen, "basis: \"scenario\" must be an object");
        return GRIDEMS_EINVAL;
    }
    char *text = gridems__json_print(scenario);
    if (text == NULL) {
        return GRIDEMS_ENOMEM;
    }
    gridems_scenario_t sc;
    char why[256];
    int rc = gridems_scenario_parse_json(text, strlen(text), &sc, why, sizeof why);
    free(text);
    if (rc != 0) {
        gridems_set_err(err, errlen, "basis: \"scenario\": %s", why);
        return rc == GRIDEMS_ENOMEM ? rc : GRIDEMS_EINVAL;
    }
    rc = gridems_optimizer_build(opt, &sc, why, sizeof why);
    gridems_scenario_free(&sc);
    if (rc != 0) {
        gridems_set_err(err, errlen, "basis: the program of its scenario cannot be built: %s", why);
        return rc;
    }
    int unused_iterations, unused_rows;
    glp_prob *lp = gridems__optimizer_basis_lp(opt, false, &unused_iterations, &unused_rows);
    if (lp == NULL) {
        gridems_set_err(err, errlen, "basis: the program of its scenario cannot be built");
        return GRIDEMS_ESOLVER;
    }
    if (m != glp_get_num_rows(lp) || n != glp_get_num_cols(lp)) {
        gridems_set_err(err, errlen,
                        "basis: %d rows and %d columns do not fit its scenario's program (%d x %d; "
                        "written by another gridems)",
                        m, n, glp_get_num_rows(lp), glp_get_num_cols(lp));
        return GRIDEMS_EINVAL;
    }
    int basic = 0;
    for (int i = 0; i < m; i++) {
        basic += rows[i] == 'B';
    }
    for (int j = 0; j < n; j++) {
        basic += columns[j] == 'B';
    }
    if (basic != m) {
        gridems_set_err(err, errlen, "basis: %d basic rows and columns, not one per row (%d)",
                        basic, m);
        return GRIDEMS_EINVAL;
    }
    for (int i = 1; i <= m; i++) {
        glp_set_row_stat(lp, i, status_of_letter(rows[i - 1]));
    }
    for (int j = 1; j <= n; j++) {
        glp_set_col_stat(lp, j, status_of_letter(columns[j - 1]));
    }
    gridems__optimizer_basis_adopted(opt, (int)cold_iterations, (int)cold_rows);
    *start_ms = (int64_t)start;
    return 0;
}

int gridems_optimizer_basis_restore(gridems_optimizer_t *opt, const char *text, size_t len,
                                    int64_t *start_ms, char *err, size_t errlen)
{
    cJSON *root = cJSON_ParseWithLength(text, len);
    if (root == NULL) {
        gridems_set_err(err, errlen, "basis: not JSON");
        return GRIDEMS_EPARSE;
    }
    int rc = cJSON_IsObject(root) ? restore_tree(opt, root, start_ms, err, errlen) : GRIDEMS_EINVAL;
    if (rc == GRIDEMS_EINVAL && !cJSON_IsObject(root)) {
        gridems_set_err(err, errlen, "basis: not a JSON object");
    }
    cJSON_Delete(root);
    return rc;
}
