/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The service's state, composed of small parts each written by one file (gridems_service_t,
 * below), and the functions service*.c offer one another. Everything is the loop thread's.
 */
#ifndef GRIDEMS_SERVICE_INTERNAL_H
#define GRIDEMS_SERVICE_INTERNAL_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <uv.h>

#include "clock.h"
#include "dr_events.h"
#include "forecast.h"
#include "host_api.h"
#include "lockstep.h"
#include "load_forecast.h"
#include "log.h"
#include "mqtt_client.h"
#include "peak_guard.h"
#include "peak_margin.h"
#include "plausibility.h"
#include "service.h"
#include "service_config.h"
#include "solver_thread.h"
#include "state_store.h"
#include "step_progress.h"
#include "timers.h"
#include "watchdog.h"

/* What the service remembers of one device (gridems__device_service_data). */
typedef struct service_device_s {
    gridems__device_t *dev;
    char id[160];         /* the id in plans (service_devices.c, device_id) */
    double charge_max_kw; /* battery limits as last reported, for clamping set-points */
    double discharge_max_kw;
    int klass;
    int meter_role;
    int64_t last_reading_ms; /* host clock; 0 = never */
    uint32_t valid;          /* GRIDEMS_MEAS_* of the last reading */
    double power_kw;
    double soc_kwh;
    bool stale;              /* left out of plans and held in safe mode */
    bool heard;              /* it has left the stale state once: the next return is "again" */
    bool safe_sent;          /* the safe-mode set-point went out since it became stale */
    uint32_t stale_after_ms; /* from its capabilities; 0 = the service default */
    double setpoint_kw;      /* battery: the last set-point sent (positive = discharge) */
    bool has_setpoint;
    uint32_t n_jobs;        /* flexible device: unfinished jobs it last reported */
    int read_failures;      /* consecutive failed read() calls */
    int64_t next_read_ms;   /* host clock: read() is skipped until then (back-off) */
    uint64_t setpoint_plan; /* (plan, step) of the last set-point, to send each once */
    int64_t setpoint_step_ms;
    int64_t setpoint_sent_ms; /* host clock when the last set-point went out */
    /* The peak guard's share (service_guard.c), for the rest of step guard_step_ms only: a
     * battery's extra discharge, a flexible device's compute held back. */
    double guard_kw;
    int64_t guard_step_ms;
    double guard_sent_kw;    /* the share asked for in the last set-point */
    double guard_applied_kw; /* what of it the set-point could carry (after clamping) */
    /* A device whose read_interval_ms is shorter than the control tick is polled by a timer of
     * its own (on the service clock); the others are read on the control tick. */
    gridems_service_t *svc;
    int64_t read_period_ms; /* 0 = read on the control tick */
    gridems_timer_t read_timer;
    bool read_timer_open;
    /* Out of plans for a reason of their own (service_health.c, plugin_watch.c). */
    double capacity_kwh;          /* battery: its capacity as last reported; -1 otherwise */
    bool implausible;             /* a reading or capability beyond the site's physical bounds */
    int64_t implausible_until_ms; /* site clock: kept out until then, once plausible again */
    char implausible_why[160];
    gridems_complaint_t implausible_log;
    bool stuck; /* its plugin instance is taken out (plugin_watch.c) */
} service_device_t;

/* Why a re-plan is asked for. Ranked by value: when several come within one debounce, the re-plan
 * carries the highest (outside signals -- an operator, a DR event, new prices -- rank above the
 * service's own), so a utility engineer sees "price" rather than the timer tick it coincided
 * with. NONE is no request. */
typedef enum {
    GRIDEMS__REPLAN_NONE = 0,
    GRIDEMS__REPLAN_TIMER,
    GRIDEMS__REPLAN_STARTUP,
    GRIDEMS__REPLAN_DEVIATION,
    GRIDEMS__REPLAN_CARBON,
    GRIDEMS__REPLAN_PRICE,
    GRIDEMS__REPLAN_EVENT,
    GRIDEMS__REPLAN_COMMAND
} gridems__replan_reason_t;

/* The word for a reason in plans, logs and the status ("timer", "price", ...). */
const char *gridems__replan_reason_name(gridems__replan_reason_t reason);
/* Whether a device is left out of plans, of the import sum and of set-points: no recent reading,
 * an implausible one, or a stuck plugin. */
static inline bool gridems__service_device_out(const service_device_t *sd)
{
    return sd->stale || sd->implausible || sd->stuck;
}

typedef struct plugin_watch_s plugin_watch_t;

/*
 * The service's state (gridems_service_t, below) is composed of small parts. Each part has one
 * owning file, the only one that writes it (the exceptions are named at the part); the others
 * read it, or call the owner's functions below. Two parts are opaque, their fields private to
 * their file: history (service_history.c) and replan (service_plan.c). A new field goes into
 * the part of the file that writes it.
 */

/* A job of the plan: its id (borrowed from the plan's scenario) and index there. */
typedef struct service_plan_job_s {
    const char *id;
    int index;
} service_plan_job_t;

/* The last good plan, kept to drive the devices step by step until the next one (service_plan.c
 * adopts it). */
typedef struct service_plan_s {
    bool valid;
    uint64_t id;
    int64_t created_ms;
    int64_t grid_start_ms;
    int64_t step_ms;
    gridems_scenario_t scenario; /* ids and grid of the schedule */
    gridems_schedule_t schedule;
    /* Derived when the plan is adopted (service_plan.c), NULL when out of memory: */
    double *compute_kw; /* [schedule.steps] every job's planned power together (the room the
                         * peak guard sees under the compute cap) */
    service_plan_job_t *jobs_by_id; /* [scenario.n_flex_loads] sorted by id, for
                                     * gridems__service_plan_job */
} service_plan_t;

/* The index of job id in the plan (its flex_loads), or -1 when the plan does not hold it; a
 * binary search (the guard and dispatch look up every job of the cluster at every tick). */
int gridems__service_plan_job(const service_plan_t *plan, const char *id);

#define GRIDEMS__INPUT_CMD 4
/* Counters for metrics and the status message, each incremented by the file that counts it. */
typedef struct service_stats_s {
    uint64_t accepted_by_input[5]; /* per input topic (service_inputs.c's INPUT_*; the commands'
                                      are GRIDEMS__INPUT_CMD, which HTTP's replan counts too) */
    uint64_t rejected_by_input[5];
    uint64_t rejected_messages;
    uint64_t accepted_forecasts;
    uint64_t replans;
    uint64_t replans_failed;
    uint64_t setpoints_sent;
} service_stats_t;

/* What the HTTP API, the metrics and the per-value topics show (service_observe.c; the http
 * server's handle is service_http.c's). */
enum { SERVICE_SOLVE_BUCKETS = 12, SERVICE_PLAN_HISTORY = 16 };
typedef struct service_plan_note_s {
    uint64_t id; /* 0: the re-plan failed */
    int64_t created_ms;
    char trigger[16]; /* the re-plan's reason (startup, timer, price, ...) */
    char state[16];   /* the status it left: online or degraded */
    char text[256];   /* the status reason (truncated) */
    double objective;
    double solve_ms;
    int iterations;
} service_plan_note_t;
typedef struct service_obs_s {
    uint64_t solve_buckets[SERVICE_SOLVE_BUCKETS]; /* cumulative counts, service_observe.c */
    uint64_t solves;
    double solve_seconds_sum;
    uint64_t iterations_total;
    int last_iterations;
    service_plan_note_t notes[SERVICE_PLAN_HISTORY]; /* ring, newest at notes[(head-1)%N] */
    int head, count;
    char *state_json; /* the last P/state document (owned) */
    bool has_import;
    double import_kw;                /* the import of the last control tick */
    struct service_values_s *values; /* per-value topics' last payloads (owned) */
    struct gridems_http_s *http;     /* NULL without an "http" section */
} service_obs_t;

/* The peak guard's own state (service_guard.c). */
typedef struct service_guard_s {
    gridems_peak_guard_meter_t meter; /* the running step's import energy */
    bool engaged;
    int64_t step_ms;      /* the step it is engaged in */
    double shed_kw;       /* asked of the devices now */
    int64_t last_tick_ms; /* to count the energy shed */
    uint64_t engagements; /* counters for the status */
    double shed_kwh;
    gridems_news_t engage_news; /* the engagements noticed (service_guard.c) */
} service_guard_t;

/* The loop's signal and timer handles (service.c: initialised at start-up, closed in the
 * shutdown). Other files only arm their own timer: service_plan.c the debounce, service_devices.c
 * the step timer, plugin_watch.c the watch timer. */
typedef struct service_handles_s {
    uv_signal_t sig_term;
    uv_signal_t sig_int;
    uv_signal_t sig_hup;
    gridems_timer_t replan_timer;   /* every planner.replan_seconds */
    gridems_timer_t debounce_timer; /* a requested re-plan, debounced */
    gridems_timer_t control_timer;  /* control tick: readings, staleness, set-points, P/state */
    uv_timer_t shutdown_timer;      /* bounds the shutdown: real time, whatever the clock */
    uv_timer_t watch_timer; /* plugin_watch.c: the next deviceless instance due back, real time */
    gridems_timer_t step_timer;  /* the next plan step's start: its set-points go out then */
    gridems_timer_t guard_timer; /* the peak guard, every planner.peak_guard.interval_seconds */
    int open;                    /* handles not yet closed */
} service_handles_t;

/* The grid's inputs as accepted (service_inputs.c applies the messages; service.c creates and
 * closes the stores, service_history.c restores the forecasts at start-up, service_plan.c prunes
 * what is past before each plan). */
typedef struct service_inputs_s {
    gridems_forecast_t import_price;
    gridems_forecast_t export_price;
    gridems_forecast_t carbon;
    gridems_dr_events_t events;
    gridems_complaint_t rejected[5]; /* per input topic (INPUT_*), rate-limits the logs */
} service_inputs_t;

/* Planning (service_plan.c): the persisted state and the billing period, which the others read
 * for the billing peak, and the jobs' progress in the running step. */
typedef struct service_planning_s {
    gridems_state_t state; /* persisted in state_dir: the billing peak, jobs, the last plan */
    char period[GRIDEMS_BILLING_KEY_MAX]; /* the running billing period's key */
    /* Jobs' energy since the running step began (service_devices.c notes what they report). */
    gridems_step_progress_t step_progress;
} service_planning_t;

/* The re-plan machinery (service_plan.c): the debounced request, the solve in flight, the
 * tie-break reference restored from the state, the running step's import averaged for the
 * billing peak. Opaque: its fields are private to service_plan.c. Owned by the service; NULL
 * before gridems__service_plan_init and after _close. */
typedef struct service_replan_s service_replan_t;

/* The status message (service.c, gridems__service_set_status). */
typedef struct service_status_s {
    const char *word; /* "online" or "degraded" */
    char reason[1024];
    int64_t since_ms;       /* when word last changed */
    char load_problem[224]; /* plugin instances that failed to load; keeps the status degraded */
    /* What set_status was last asked for, before the standing problems are added to it. */
    const char *base_state;
    char base_reason[512];
    /* The log's "status degraded" lines: each kind of reason once, again hourly while it lasts
     * (a shortfall that lasts names every plan and its amounts). */
    gridems_news_t degraded_news;
    /* The log's notices of jobs that a plan runs into their reserve (plan_report.h), alike. */
    gridems_news_t reserve_news;
} service_status_t;

/* A status reason or notice that keeps its kind is logged again after this much service time. */
#define GRIDEMS__STATUS_REMINDER_MS INT64_C(3600000)

/* Plausibility at the edge and the standing problems (service_health.c): implausible devices,
 * stuck plugins, a failed save. */
typedef struct service_health_s {
    gridems_plausible_t plausible;
    char problem[480];         /* implausible devices and stuck plugins, or "" */
    char persist_problem[160]; /* "state not persisted: <strerror>", or "" */
    int persist_failing;       /* GRIDEMS__PERSIST_* whose last save failed */
    gridems_complaint_t persist_log;
} service_health_t;

/* What is learnt from the past (service_history.c): the load forecast, the latest base load, the
 * peak margin's errors. Opaque: its fields are private to service_history.c, and the others
 * reach them through the gridems__service_history_* functions below. Owned by the service;
 * NULL before gridems__service_history_start and after _stop. */
typedef struct service_history_s service_history_t;

/* One entry per plugin instance seen (plugin_watch.c). */
typedef struct service_plugin_watch_s {
    plugin_watch_t *list; /* [n] (owned) */
    int n;
} service_plugin_watch_t;

/* Start-up and shutdown (service.c). */
typedef struct service_lifecycle_s {
    bool shutting_down;
    int steps_left;    /* solver and plugins still closing before MQTT goes */
    int exit_code;     /* of gridems_service_run */
    int state_lock_fd; /* the flock on state_dir/lock (state_dir.h); -1 when none */
    /* systemd notifications and the stop deadline (watchdog.h) */
    gridems_watchdog_t watchdog;
} service_lifecycle_t;

/* The service: what everyone uses (service.c sets it up), then the parts. */
typedef struct gridems_service_s {
    uv_loop_t loop;
    gridems_service_config_t cfg; /* SIGHUP applies the live settings (service.c) */
    const char *config_path;
    gridems_clock_t clock;
    gridems_timers_t timers; /* every timer of the handles but the shutdown's, and the plugins' */
    gridems_mqtt_t *mqtt;    /* NULL once shut down */
    gridems__host_t *host;   /* owned; NULL until load_plugins and after the plugins closed */
    bool host_ready;
    gridems_solver_t *solver;
    gridems_lockstep_t *lockstep;      /* a driver's run on a stepped clock; NULL for gridems run */
    struct service_openadr_s *openadr; /* the OpenADR VEN (service_openadr.c); NULL when off */

    service_handles_t handles;           /* service.c */
    service_inputs_t inputs;             /* service_inputs.c */
    service_history_t *history;          /* service_history.c (private to it; see there) */
    service_planning_t planning;         /* service_plan.c */
    service_replan_t *replan;            /* service_plan.c (private to it; see there) */
    service_plan_t plan;                 /* service_plan.c */
    service_guard_t guard;               /* service_guard.c */
    service_status_t status;             /* service.c */
    service_health_t health;             /* service_health.c */
    service_plugin_watch_t plugin_watch; /* plugin_watch.c */
    service_stats_t stats;               /* each counter by the file that counts it */
    service_obs_t obs;                   /* service_observe.c, service_http.c */
    service_lifecycle_t lifecycle;       /* service.c */
} gridems_service_t;

/* service.c */
/* Begin the clean shutdown (as on SIGTERM), logging why. */
void gridems__service_stop(gridems_service_t *svc, const char *why);
/* Set the status word and reason (the lasting problems of service_health.c are added); publish
 * it and log the change. Returns false when nothing changed (nothing published or logged). */
bool gridems__service_set_status(gridems_service_t *svc, const char *state, const char *reason);
void gridems__service_publish_status(gridems_service_t *svc);
char *gridems__service_status_json(gridems_service_t *svc, const char *state);

/* service_inputs.c */
void gridems__service_on_message(gridems_mqtt_t *m, const char *topic, const void *payload,
                                 size_t len, int qos, int retained, void *userdata);
void gridems__service_subscribe_inputs(gridems_service_t *svc);

/* The inputs a source other than MQTT (the OpenADR VEN, service_openadr.c) feeds: the same
 * validation, logging, persistence and re-plan as a message on the input's topic; `source`
 * (borrowed) names it in the logs instead of the topic. */
typedef enum {
    GRIDEMS__INPUT_PRICE = 0,
    GRIDEMS__INPUT_PRICE_EXPORT = 1,
    GRIDEMS__INPUT_CARBON = 2,
    GRIDEMS__INPUT_EVENT = 3
} gridems__input_t;
void gridems__service_input(gridems_service_t *svc, gridems__input_t input, const char *source,
                            const char *text, size_t len);
/* Forget a forecast input's values over [start_ms, end_ms) (its source withdrew them). */
void gridems__service_input_clear(gridems_service_t *svc, gridems__input_t input,
                                  const char *source, int64_t start_ms, int64_t end_ms);

/* service_devices.c: the host services (publish, subscribe, readings, device lifecycle). */
void gridems__service_host_services(gridems_service_t *svc, gridems__host_services_t *out);
void gridems__service_control_tick(gridems_service_t *svc);
void gridems__service_dispatch(gridems_service_t *svc);
void gridems__service_all_safe(gridems_service_t *svc);
/* Send ev (borrowed; struct_size and time_ms are filled in here) to every announced device. */
void gridems__service_notify_devices(gridems_service_t *svc, gridems_device_event_t *ev);
/* Tell every device that a grid signal was accepted (GRIDEMS_EVT_GRID_SIGNAL). */
void gridems__service_grid_signal(gridems_service_t *svc, int signal, const char *id,
                                  int64_t start_ms, int64_t end_ms, double value);
/*
 * Plans finish each flexible job this long before its deadline (one step, at most an hour). A
 * plan made to the deadline itself puts a job's last kWh in its cheapest last hours with no
 * slack, and the seconds a device takes to act on each new set-point make it late. Within the
 * reserve (or late) a job is due in the running step, and dispatch runs it at full power.
 */
int64_t gridems__service_job_reserve_ms(const gridems_service_t *svc);
/* The import now: a SITE meter's reading if there is one, else the sum of the devices' readings
 * (what the billing-period peak notes). Returns false when nothing reports power. */
bool gridems__service_import_now(gridems_service_t *svc, double *kw);
/* A battery's set-point for plan step `step` without the peak guard, clamped to its limits;
 * false when the plan does not hold it. */
bool gridems__service_battery_plan_kw(const gridems_service_t *svc, const service_device_t *sd,
                                      int step, double *kw);
/* How much of a flexible device's planned power in step `step` can wait: of the jobs not due in
 * the step (dispatch runs those at full power, gridems__service_job_reserve_ms), what each can
 * give up and still finish a reserve before its deadline at full power after the step. */
double gridems__service_job_in_step_kwh(gridems_service_t *svc, const gridems_flex_job_t *job);
/* claimed_kw ([plan steps], zeroed by the caller at the start of a pass over the devices, or
 * NULL): the catch-up room the jobs counted before claim, to which this device's jobs add theirs,
 * so that two devices' held-back jobs do not count the same room under the site's cap. */
double gridems__service_flex_headroom_kw(gridems_service_t *svc, service_device_t *sd, int step,
                                         double *claimed_kw);
/* A zeroed [plan steps] array for those claims, or NULL (out of memory: then none are counted). */
double *gridems__service_new_claims(const gridems_service_t *svc);

/* service_guard.c: the real-time peak guard. The tick runs on svc->handles.guard_timer; release
 * puts every set-point back to the plan (the guard was disabled). */
void gridems__service_guard_tick(gridems_service_t *svc);
void gridems__service_guard_release(gridems_service_t *svc);

/* service_history.c: what is learnt from the past and kept across restarts (load history,
 * forecasts, the load forecast's error for the peak margin). */
void gridems__service_history_start(gridems_service_t *svc);
void gridems__service_history_tick(gridems_service_t *svc, int64_t now_ms);
void gridems__service_history_step_planned(gridems_service_t *svc, int64_t step_start_ms);
void gridems__service_history_step_import(gridems_service_t *svc, int64_t step_start_ms,
                                          double mean_kw);
void gridems__service_history_forecast_changed(gridems_service_t *svc,
                                               const gridems_forecast_t *store);
void gridems__service_history_stop(gridems_service_t *svc);
/* A LOAD meter's reading of kw at t (host clock): the latest base load, and the forecast's. */
void gridems__service_history_load_reading(gridems_service_t *svc, int64_t t, double kw);
/* For the planner (borrowed until the next call that writes the history): the load forecast, or
 * NULL when there is none; the latest base-load reading (false when none, *kw left alone); the
 * peak margin's measured errors, or NULL. */
const gridems_load_forecast_t *gridems__service_history_load(const gridems_service_t *svc);
bool gridems__service_history_latest_load(const gridems_service_t *svc, double *kw);
const gridems_peak_margin_t *gridems__service_history_margin(const gridems_service_t *svc);

/* service_observe.c: the operators' view (docs/http.md): the HTTP API and dashboard on
 * svc->obs.http, the metrics, the retained per-value topics, the schedule's step times. */
int gridems__service_http_start(gridems_service_t *svc);
void gridems__service_http_stop(gridems_service_t *svc);
/* A re-plan's result, after the status is set: id 0 when it failed. */
void gridems__service_observe_result(gridems_service_t *svc, uint64_t id, double solve_ms,
                                     int iterations, double objective);
/* A control tick's P/state document (borrowed) and import: kept for the API, and the per-value
 * topics published when they changed. */
void gridems__service_observe_state(gridems_service_t *svc, const cJSON *state, double import_kw);
/* Add "step_starts" (an ISO time per step) to a schedule document (borrowed). */
void gridems__service_add_step_times(const gridems_service_t *svc, cJSON *schedule,
                                     int64_t grid_start_ms, int64_t step_ms, int steps);
void gridems__service_observe_free(gridems_service_t *svc);
/* service_metrics.c: the Prometheus text exposition of the service (malloc'd; NULL on ENOMEM). */
char *gridems__service_metrics_text(gridems_service_t *svc, size_t *len);
/* service_health.c: plausibility at the edge, and the standing problems in the status. */
void gridems__service_health_init(gridems_service_t *svc);
/* A reading of sd (the host's copy, borrowed): false when it must be dropped (implausible, or
 * the device is still held out). */
bool gridems__service_reading_ok(gridems_service_t *svc, service_device_t *sd,
                                 const gridems_measurement_t *m);
/* sd's capabilities (borrowed): false when implausible (the device is marked and left out). */
bool gridems__service_caps_ok(gridems_service_t *svc, service_device_t *sd,
                              const gridems_caps_t *caps);
/* The billing peak's physical ceiling: what the site's connection can draw at most. */
double gridems__service_peak_ceiling_kw(const gridems_service_t *svc);
/* A save of one of the files kept in state_dir returned rc, with the errno err_no and the
 * message detail on failure. The status stays degraded while any of them fails. */
enum { GRIDEMS__PERSIST_STATE = 1, GRIDEMS__PERSIST_DR = 2, GRIDEMS__PERSIST_HISTORY = 4 };
void gridems__service_persist_result(gridems_service_t *svc, int what, int rc, int err_no,
                                     const char *detail);
/* Recompute the standing problems and republish the status when they changed. */
void gridems__service_health_changed(gridems_service_t *svc);
/* The standing problems joined, for set_status (borrowed buffer). */
void gridems__service_problems(const gridems_service_t *svc, bool with_load, char *out, size_t len);

/* service_devices.c: the safe-mode set-point for one device (not for meters). */
void gridems__service_device_safe(gridems_service_t *svc, service_device_t *sd);
/* service_openadr.c: the OpenADR 3.1 VEN's events as inputs (docs/openadr.md). start does
 * nothing without an "openadr" section; stop closes it and calls done(svc) once it is closed
 * (returns false, calling nothing, when there is nothing to close). */
void gridems__service_openadr_start(gridems_service_t *svc);
bool gridems__service_openadr_stop(gridems_service_t *svc, void (*done)(gridems_service_t *svc));
/* Add the VEN's figures to a status object as "openadr" (nothing when it is off). */
void gridems__service_openadr_status(gridems_service_t *svc, cJSON *root);
/* Write the VEN's metric families (docs/openadr.md) to f (nothing when it is off). */
void gridems__service_openadr_metrics(gridems_service_t *svc, FILE *f);
/* The site's import at a control tick, for the usage reports (docs/openadr.md, "Reports"):
 * known false when no device reported power. Sends a report that has become due. */
void gridems__service_openadr_sample(gridems_service_t *svc, bool known, double import_kw);

/* service_plan.c */
int gridems__service_plan_init(gridems_service_t *svc);
void gridems__service_request_replan(gridems_service_t *svc, gridems__replan_reason_t reason);
void gridems__service_replan_now(gridems_service_t *svc, gridems__replan_reason_t reason);
void gridems__service_on_solver_result(gridems_solver_t *s, gridems_solver_result_t *res,
                                       void *userdata);
void gridems__service_plan_close(gridems_service_t *svc);
void gridems__service_note_import(gridems_service_t *svc, double kw);
/* The reason of the last re-plan submitted: the one in flight, or the one whose result is being
 * handled (NONE before the first). */
gridems__replan_reason_t gridems__service_replan_reason(const gridems_service_t *svc);

#endif
