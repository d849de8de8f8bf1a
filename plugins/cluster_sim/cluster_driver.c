/* SPDX-License-Identifier: GPL-3.0-or-later */
/* cluster_sim's driver, the gridems side: the gateway's telemetry into measurements and
 * capabilities, set-points into commands (cluster_sim.c documents the messages). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_driver.h"

/* ---- ## Driver ---- */

static int drv_post(cluster_t *c)
{
    const driver_t *d = &c->drv;
    gridems_measurement_t m = {
        .struct_size = sizeof m,
        .device = c->dev,
        .timestamp_ms = d->ts,
        .valid = GRIDEMS_MEAS_POWER | GRIDEMS_MEAS_ENERGY,
        .power_kw = d->power_kw,
        .energy_kwh = d->energy_kwh,
    };
    return c->api->post_measurement(c->self, &m);
}

/* Parse one element of the telemetry's "jobs" array. */
static int parse_drv_job(gridems__sim_jr_t *r, drv_job_t *j)
{
    int have_id = 0, have_arrival = 0, have_deadline = 0, have_pmax = 0, have_left = 0;
    memset(j, 0, sizeof *j);
    if (gridems__sim_jr_begin_object(r) < 0) {
        return -1;
    }
    char key[64];
    int more;
    while ((more = gridems__sim_jr_next_key(r, key, sizeof key)) == 1) {
        int rc;
        if (strcmp(key, "id") == 0) {
            rc = gridems__sim_jr_string(r, j->id, sizeof j->id);
            have_id = 1;
        } else if (strcmp(key, "arrival") == 0) {
            rc = gridems__sim_jr_int64(r, &j->arrival_ms);
            have_arrival = 1;
        } else if (strcmp(key, "deadline") == 0) {
            rc = gridems__sim_jr_int64(r, &j->deadline_ms);
            have_deadline = 1;
        } else if (strcmp(key, "power_max_kw") == 0) {
            rc = gridems__sim_jr_number(r, &j->power_max_kw);
            have_pmax = 1;
        } else if (strcmp(key, "delivered_kwh") == 0) {
            rc = gridems__sim_jr_number(r, &j->delivered_kwh);
        } else if (strcmp(key, "remaining_kwh") == 0) {
            rc = gridems__sim_jr_number(r, &j->remaining_kwh);
            have_left = 1;
        } else if (strcmp(key, "finished") == 0) {
            rc = gridems__sim_jr_bool(r, &j->finished);
        } else if (strcmp(key, "finished_at") == 0) {
            rc = gridems__sim_jr_int64(r, &j->finished_ms);
        } else {
            rc = gridems__sim_jr_skip(r);
        }
        if (rc < 0) {
            return -1;
        }
    }
    if (more < 0) {
        return -1;
    }
    if (!have_id || !have_arrival || !have_deadline || !have_pmax || !have_left) {
        return gridems__sim_jr_fail(r, "a job lacks id, arrival, deadline, power_max_kw or "
                                       "remaining_kwh");
    }
    if (j->id[0] == '\0' || !(j->power_max_kw > 0) || j->deadline_ms <= j->arrival_ms ||
        j->remaining_kwh < 0 || j->delivered_kwh < 0) {
        return gridems__sim_jr_fail(r, "a job's values are out of range");
    }
    return 0;
}

/* Parse a telemetry message into t; t->jobs is allocated (the caller frees it, also on error). */
static int parse_telemetry(gridems__sim_jr_t *r, driver_t *t)
{
    int have_ts = 0, have_power = 0, have_cap = 0;
    size_t cap = 0;
    if (gridems__sim_jr_begin_object(r) < 0) {
        return -1;
    }
    char key[64];
    int more;
    while ((more = gridems__sim_jr_next_key(r, key, sizeof key)) == 1) {
        int rc = 0;
        if (strcmp(key, "ts") == 0) {
            rc = gridems__sim_jr_int64(r, &t->ts);
            have_ts = 1;
        } else if (strcmp(key, "power_kw") == 0) {
            rc = gridems__sim_jr_number(r, &t->power_kw);
            have_power = 1;
        } else if (strcmp(key, "energy_kwh") == 0) {
            rc = gridems__sim_jr_number(r, &t->energy_kwh);
        } else if (strcmp(key, "power_cap_kw") == 0) {
            rc = gridems__sim_jr_number(r, &t->power_cap_kw);
            have_cap = 1;
        } else if (strcmp(key, "jobs") == 0 && t->n_jobs == 0) {
            if (gridems__sim_jr_begin_array(r) < 0) {
                return -1;
            }
            while ((rc = gridems__sim_jr_next_item(r)) == 1) {
                if (t->n_jobs >= MAX_CMD_JOBS) {
                    return gridems__sim_jr_fail(r, "too many jobs");
                }
                if (t->n_jobs == cap) {
                    size_t ncap = cap == 0 ? 16 : cap * 2;
                    drv_job_t *jobs = realloc(t->jobs, ncap * sizeof *jobs);
                    if (jobs == NULL) {
                        return gridems__sim_jr_fail(r, "out of memory");
                    }
                    t->jobs = jobs;
                    cap = ncap;
                }
                if (parse_drv_job(r, &t->jobs[t->n_jobs]) < 0) {
                    return -1;
                }
                t->n_jobs++;
            }
        } else {
            rc = gridems__sim_jr_skip(r);
        }
        if (rc < 0) {
            return -1;
        }
    }
    if (more < 0 || gridems__sim_jr_finish(r) < 0) {
        return -1;
    }
    if (!have_ts || !have_power || !have_cap) {
        return gridems__sim_jr_fail(r, "ts, power_kw or power_cap_kw is missing");
    }
    if (!(t->power_kw >= 0) || !(t->power_cap_kw > 0)) {
        return gridems__sim_jr_fail(r, "power_kw or power_cap_kw is out of range");
    }
    return 0;
}

static const drv_job_t *drv_find(const drv_job_t *jobs, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(jobs[i].id, id) == 0) {
            return &jobs[i];
        }
    }
    return NULL;
}

void cluster_drv_on_telemetry(gridems_plugin_t *self, const gridems_message_t *msg, void *arg)
{
    (void)self;
    cluster_t *c = arg;
    driver_t *d = &c->drv;
    driver_t t;
    memset(&t, 0, sizeof t);
    gridems__sim_jr_t r;
    gridems__sim_jr_init(&r, msg->payload, msg->len);
    if (parse_telemetry(&r, &t) < 0) {
        free(t.jobs);
        gridems__sim_complain_malformed(c->api, c->self, &d->bad_telemetry,
                                        "driver: malformed telemetry", msg->topic, &r);
        return;
    }
    if (!gridems__sim_telemetry_takes(c->api, c->self, &d->bad_telemetry, msg->topic, t.ts, d->have,
                                      d->ts)) {
        free(t.jobs);
        return;
    }
    /* Report each job that finished since the last message, for the operator's log. */
    for (size_t i = 0; i < t.n_jobs; i++) {
        const drv_job_t *j = &t.jobs[i];
        const drv_job_t *before = drv_find(d->jobs, d->n_jobs, j->id);
        if (j->finished && (before == NULL || !before->finished)) {
            if (j->finished_ms <= j->deadline_ms) {
                c->api->log(c->self, GRIDEMS_PLUGIN_LOG_INFO, "job %s finished on time", j->id);
            } else {
                c->api->log(c->self, GRIDEMS_PLUGIN_LOG_NOTICE,
                            "job %s finished %.1f h after its deadline", j->id,
                            (double)(j->finished_ms - j->deadline_ms) / GRIDEMS__SIM_MS_PER_HOUR);
            }
        }
    }
    free(d->jobs);
    d->jobs = t.jobs;
    d->n_jobs = t.n_jobs;
    d->have = 1;
    d->ts = t.ts;
    d->power_kw = t.power_kw;
    d->energy_kwh = t.energy_kwh;
    d->power_cap_kw = t.power_cap_kw;
    drv_post(c);
}

int cluster_drv_read(gridems_device_id_t dev, void *userdata)
{
    (void)dev;
    cluster_t *c = userdata;
    return c->drv.have ? drv_post(c) : 0;
}

int cluster_drv_caps(gridems_device_id_t dev, void *userdata, gridems_caps_t *out)
{
    (void)dev;
    cluster_t *c = userdata;
    driver_t *d = &c->drv;
    if (!d->have) {
        return GRIDEMS_EAGAIN; /* no telemetry yet: the job list is unknown */
    }
    if (d->n_jobs > d->cap_caps) {
        gridems_flex_job_t *caps = realloc(d->caps, d->n_jobs * sizeof *caps);
        if (caps == NULL) {
            return GRIDEMS_ENOMEM;
        }
        d->caps = caps;
        d->cap_caps = d->n_jobs;
    }
    uint32_t n = 0;
    for (size_t i = 0; i < d->n_jobs; i++) {
        const drv_job_t *j = &d->jobs[i];
        if (j->finished) {
            continue;
        }
        /* The strings stay valid until the next telemetry message, which cannot arrive before
         * the host has copied them (both run on the loop thread). */
        d->caps[n++] = (gridems_flex_job_t){
            .id = j->id,
            .energy_remaining_kwh = j->remaining_kwh,
            .energy_delivered_kwh = j->delivered_kwh,
            .power_max_kw = j->power_max_kw,
            .earliest_ms = j->arrival_ms,
            .deadline_ms = j->deadline_ms,
        };
    }
    out->stale_after_ms = (uint32_t)c->opts->common.stale_after_ms;
    out->measured_ms = d->ts;
    out->u.flex.jobs = n > 0 ? d->caps : NULL;
    out->u.flex.n_jobs = n;
    out->u.flex.power_cap_kw = d->power_cap_kw;
    return 0;
}

/* Send the command with head h; sp gives the jobs' powers unless the head is a safe-mode one. */
static int drv_send(cluster_t *c, const gridems__sim_cmd_head_t *h, const gridems_setpoint_t *sp)
{
    gridems__sim_buf_t *w = &c->buf;
    gridems__sim_cmd_begin(w, h);
    if (!h->safe_mode) {
        gridems__sim_json_kv_num(w, "power_cap_kw", sp->power_cap_kw);
        gridems__sim_json_key(w, "jobs");
        gridems__sim_json_begin_array(w);
        for (uint32_t i = 0; i < sp->n_jobs; i++) {
            const gridems_job_setpoint_t *j = &sp->jobs[i];
            if (j->job_id == NULL) {
                continue;
            }
            gridems__sim_json_begin_object(w);
            gridems__sim_json_kv_str(w, "id", j->job_id);
            gridems__sim_json_kv_num(w, "power_kw", j->power_kw > 0 ? j->power_kw : 0.0);
            gridems__sim_json_end_object(w);
        }
        gridems__sim_json_end_array(w);
    }
    return gridems__sim_cmd_send(c->api, c->self, c->topic_cmd, w, h, &c->drv.sent);
}

int cluster_drv_setpoint(gridems_device_id_t dev, void *userdata, const gridems_setpoint_t *sp)
{
    (void)dev;
    cluster_t *c = userdata;
    gridems__sim_cmd_head_t h;
    int rc = gridems__sim_cmd_from_setpoint(sp, &h);
    if (rc < 0) {
        return rc;
    }
    /* Repeats are sent too: the gateway drops duplicates, and a repeat heals a lost command. */
    return drv_send(c, &h, sp);
}

int cluster_drv_event(gridems_device_id_t dev, void *userdata, const gridems_device_event_t *ev)
{
    (void)dev;
    cluster_t *c = userdata;
    if (ev->type != GRIDEMS_EVT_SHUTDOWN) {
        return 0;
    }
    gridems__sim_cmd_head_t h;
    gridems__sim_cmd_for_shutdown(&c->drv.sent, ev->time_ms, &h);
    return drv_send(c, &h, NULL);
}

void cluster_drv_free(driver_t *d)
{
    free(d->jobs);
    free(d->caps);
}
