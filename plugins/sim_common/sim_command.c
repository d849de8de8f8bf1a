/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The simulators' command protocol; see sim_command.h. */
#include "sim_command.h"

#include <inttypes.h>
#include <string.h>

/* ---- ## Driver side ---- */

int gridems__sim_cmd_from_setpoint(const gridems_setpoint_t *sp, gridems__sim_cmd_head_t *h)
{
    if (sp->plan_id > (uint64_t)INT64_MAX || sp->valid_until_ms < 0) {
        return GRIDEMS_EINVAL;
    }
    h->plan_id = (int64_t)sp->plan_id;
    h->ts = sp->timestamp_ms;
    h->valid_until = sp->valid_until_ms;
    h->safe_mode = sp->safe_mode != 0;
    return 0;
}

void gridems__sim_cmd_for_shutdown(const gridems__sim_cmd_sent_t *sent, int64_t time_ms,
                                   gridems__sim_cmd_head_t *h)
{
    h->plan_id = sent->any ? sent->plan_id : 0;
    h->ts = sent->any && time_ms < sent->ts ? sent->ts : time_ms;
    h->valid_until = 0;
    h->safe_mode = 1;
}

void gridems__sim_cmd_begin(gridems__sim_buf_t *w, const gridems__sim_cmd_head_t *h)
{
    gridems__sim_buf_reset(w);
    gridems__sim_json_begin_object(w);
    gridems__sim_json_kv_int(w, "plan_id", h->plan_id);
    gridems__sim_json_kv_int(w, "ts", h->ts);
    if (h->valid_until > 0) {
        gridems__sim_json_kv_int(w, "valid_until", h->valid_until);
    }
    gridems__sim_json_kv_bool(w, "safe_mode", h->safe_mode);
}

int gridems__sim_cmd_send(const gridems_host_api_t *api, gridems_plugin_t *self, const char *topic,
                          gridems__sim_buf_t *w, const gridems__sim_cmd_head_t *h,
                          gridems__sim_cmd_sent_t *sent)
{
    gridems__sim_json_end_object(w);
    if (w->oom) {
        return GRIDEMS_ENOMEM;
    }
    int rc = api->publish(self, topic, w->data, w->len, 1, 0);
    if (rc < 0) {
        gridems__sim_complain(api, self, &sent->pub_failed, GRIDEMS_PLUGIN_LOG_WARNING,
                              "driver: cannot publish the command on %s (error %d)", topic, rc);
        return rc;
    }
    sent->any = 1;
    sent->plan_id = h->plan_id;
    sent->ts = h->ts;
    return 0;
}

/* ---- ## Gateway side ---- */

int gridems__sim_cmd_parse(gridems__sim_jr_t *r, gridems__sim_cmd_head_t *h,
                           gridems__sim_cmd_member_fn member, gridems__sim_cmd_check_fn check,
                           void *cmd)
{
    int have_plan = 0, have_ts = 0;
    memset(h, 0, sizeof *h);
    if (gridems__sim_jr_begin_object(r) < 0) {
        return -1;
    }
    char key[64];
    int more;
    while ((more = gridems__sim_jr_next_key(r, key, sizeof key)) == 1) {
        int rc;
        if (strcmp(key, "plan_id") == 0) {
            rc = gridems__sim_jr_int64(r, &h->plan_id);
            have_plan = 1;
        } else if (strcmp(key, "ts") == 0) {
            rc = gridems__sim_jr_int64(r, &h->ts);
            have_ts = 1;
        } else if (strcmp(key, "valid_until") == 0) {
            rc = gridems__sim_jr_int64(r, &h->valid_until);
        } else if (strcmp(key, "safe_mode") == 0) {
            rc = gridems__sim_jr_bool(r, &h->safe_mode);
        } else {
            rc = member(r, key, cmd);
            if (rc == 1) {
                rc = gridems__sim_jr_skip(r);
            }
        }
        if (rc < 0) {
            return -1;
        }
    }
    if (more < 0 || gridems__sim_jr_finish(r) < 0) {
        return -1;
    }
    if (!have_plan || h->plan_id < 0) {
        return gridems__sim_jr_fail(r, "plan_id (an integer >= 0) is missing");
    }
    if (!have_ts) {
        return gridems__sim_jr_fail(r, "ts is missing");
    }
    const char *incomplete = check != NULL ? check(cmd, h) : NULL;
    if (incomplete != NULL) {
        return gridems__sim_jr_fail(r, incomplete);
    }
    if (h->valid_until < 0) {
        return gridems__sim_jr_fail(r, "valid_until is negative");
    }
    return 0;
}

int gridems__sim_cmd_admit(const gridems_host_api_t *api, gridems_plugin_t *self,
                           gridems__sim_cmd_counts_t *counts, const char *topic, int parsed,
                           const gridems__sim_jr_t *r, const gridems__sim_cmd_head_t *last,
                           const gridems__sim_cmd_head_t *c)
{
    if (parsed < 0) {
        counts->malformed++;
        gridems__sim_complain_malformed(api, self, &counts->bad_cmd, "gateway: malformed command",
                                        topic, r);
        return 0;
    }
    if (last == NULL) {
        return 1;
    }
    int newer = c->plan_id > last->plan_id || (c->plan_id == last->plan_id && c->ts > last->ts);
    int same = c->plan_id == last->plan_id && c->ts == last->ts;
    if (!newer && !(same && c->safe_mode && !last->safe_mode)) {
        counts->ignored++;
        api->log(self, GRIDEMS_PLUGIN_LOG_DEBUG,
                 "gateway: command (plan %" PRId64 ", ts %" PRId64 ") is not newer than "
                 "(plan %" PRId64 ", ts %" PRId64 "): ignored",
                 c->plan_id, c->ts, last->plan_id, last->ts);
        return 0;
    }
    return 1;
}

void gridems__sim_json_last_cmd(gridems__sim_buf_t *w, const gridems__sim_cmd_head_t *last)
{
    gridems__sim_json_kv_int(w, "plan_id", last->plan_id);
    gridems__sim_json_kv_int(w, "cmd_ts", last->ts);
    gridems__sim_json_kv_int(w, "valid_until", last->valid_until);
}

void gridems__sim_json_cmd_counts(gridems__sim_buf_t *w, const gridems__sim_cmd_counts_t *n)
{
    gridems__sim_json_kv_int(w, "cmd_accepted", (int64_t)n->accepted);
    gridems__sim_json_kv_int(w, "cmd_ignored", (int64_t)n->ignored);
    gridems__sim_json_kv_int(w, "cmd_malformed", (int64_t)n->malformed);
}
