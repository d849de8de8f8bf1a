/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The adapter of plugin ABI major 1 (1.0 and 1.1 plugins): the API table handed to their init,
 * and the reading of what they hand over by their struct_size and element sizes.
 *
 * Every entry of the table first checks the plugin's handle (or config pointer) against the live
 * instances (gridems__instance_lookup): a pointer that is none gets GRIDEMS_EINVAL. Structs from
 * the plugin are read as min(struct_size, the host's sizeof) bytes into a zeroed host-size copy,
 * so members a 1.0 plugin does not have read as zero (their 1.0 meaning), and members a newer
 * minor appended are not read at all. Then the host's own functions (host_internal.h) take over.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gridems/errors.h"
#include "error_text.h"
#include "host_internal.h"

/* Largest option table accepted (a missing GRIDEMS_OPTION_END runs into other data). */
#define MAX_OPTIONS 256

/* Copy min(size, host_size) bytes of src into a zeroed host-size dst. */
static void copy_min(void *dst, size_t host_size, const void *src, size_t size)
{
    memset(dst, 0, host_size);
    memcpy(dst, src, size < host_size ? size : host_size);
}

/* ---- ## What the plugin hands over before init ---- */

static int v1_read_info(const void *exported, const char *path, gridems_plugin_info_t *info,
                        gridems_option_t **options, size_t *n_options, char *err, size_t errlen)
{
    const gridems_plugin_info_t *pinfo = exported;
    *options = NULL;
    *n_options = 0;
    /* Everything up to context_size is needed; reserved (1.0) and later members are not. */
    size_t min_size = offsetof(gridems_plugin_info_t, context_size) + sizeof(size_t);
    if (pinfo->struct_size < min_size || pinfo->abi_major != 1) {
        gridems_set_err(err, errlen,
                        "plugin %s: gridems_plugin_info is not an ABI 1 struct (struct_size %u, "
                        "abi_major %u): set GRIDEMS_PLUGIN_INFO_HEADER",
                        path, (unsigned)pinfo->struct_size, (unsigned)pinfo->abi_major);
        return GRIDEMS_EABI;
    }
    copy_min(info, sizeof *info, pinfo, pinfo->struct_size);
    info->struct_size = sizeof *info;
    memset(info->reserved, 0, sizeof info->reserved);
    if (info->options == NULL) {
        return 0;
    }
    /* The table is stepped through by the plugin's own entry size: any size from the 1.0 one
     * up, of which the members this host knows are read. */
    size_t stride = info->option_size;
    if (stride < GRIDEMS__V1_0_OPTION_SIZE || stride % _Alignof(gridems_option_t) != 0) {
        gridems_set_err(
            err, errlen,
            "plugin %s: gridems_plugin_info.option_size %zu is not valid (at least %zu, a "
            "multiple of %zu)",
            path, stride, (size_t)GRIDEMS__V1_0_OPTION_SIZE, _Alignof(gridems_option_t));
        return GRIDEMS_EABI;
    }
    const char *base = (const char *)info->options;
    size_t n = 0;
    while (((const gridems_option_t *)(const void *)(base + n * stride))->key != NULL) {
        if (++n > MAX_OPTIONS) {
            gridems_set_err(err, errlen,
                            "plugin %s: more than %d options (missing GRIDEMS_OPTION_END?)", path,
                            MAX_OPTIONS);
            return GRIDEMS_EABI;
        }
    }
    gridems_option_t *opts = calloc(n > 0 ? n : 1, sizeof *opts);
    if (opts == NULL) {
        return GRIDEMS_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        copy_min(&opts[i], sizeof opts[i], base + i * stride, stride);
    }
    *options = opts;
    *n_options = n;
    return 0;
}

static size_t v1_flex_job_size(const gridems_plugin_info_t *info, const gridems_flex_caps_t *caps)
{
    size_t size = caps->job_size != 0        ? caps->job_size
                  : info->flex_job_size != 0 ? info->flex_job_size
                                             : GRIDEMS__V1_0_FLEX_JOB_SIZE;
    return size < GRIDEMS__V1_0_FLEX_JOB_SIZE ? 0 : size;
}

/* ---- ## The API table ---- */

static void v1_vlog(gridems_plugin_t *self, int level, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
static void v1_log(gridems_plugin_t *self, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int v1_init_error(gridems_plugin_t *self, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void v1_vlog(gridems_plugin_t *self, int level, const char *fmt, va_list ap)
{
    gridems__log_v(gridems__instance_lookup(self), level, fmt, ap);
}

static void v1_log(gridems_plugin_t *self, int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    v1_vlog(self, level, fmt, ap);
    va_end(ap);
}

static int v1_config_get_string(const gridems_config_t *cfg, const char *key, const char **out)
{
    return gridems__option_get(gridems__config_lookup(cfg), key, GRIDEMS_OPT_STRING, out);
}

static int v1_config_get_int(const gridems_config_t *cfg, const char *key, int64_t *out)
{
    return gridems__option_get(gridems__config_lookup(cfg), key, GRIDEMS_OPT_INT, out);
}

static int v1_config_get_double(const gridems_config_t *cfg, const char *key, double *out)
{
    return gridems__option_get(gridems__config_lookup(cfg), key, GRIDEMS_OPT_DOUBLE, out);
}

static int v1_config_get_bool(const gridems_config_t *cfg, const char *key, int *out)
{
    return gridems__option_get(gridems__config_lookup(cfg), key, GRIDEMS_OPT_BOOL, out);
}

static int v1_option_string(gridems_plugin_t *self, const char *key, const char **out)
{
    return gridems__option_get(gridems__instance_lookup(self), key, GRIDEMS_OPT_STRING, out);
}

static int v1_option_int(gridems_plugin_t *self, const char *key, int64_t *out)
{
    return gridems__option_get(gridems__instance_lookup(self), key, GRIDEMS_OPT_INT, out);
}

static int v1_option_double(gridems_plugin_t *self, const char *key, double *out)
{
    return gridems__option_get(gridems__instance_lookup(self), key, GRIDEMS_OPT_DOUBLE, out);
}

static int v1_option_bool(gridems_plugin_t *self, const char *key, int *out)
{
    return gridems__option_get(gridems__instance_lookup(self), key, GRIDEMS_OPT_BOOL, out);
}

static int v1_timer_start(gridems_plugin_t *self, uint64_t first_ms, uint64_t repeat_ms,
                          gridems_timer_fn fn, void *arg, gridems_timer_id_t *id)
{
    gridems_plugin_t *inst = gridems__instance_lookup(self);
    return inst == NULL ? GRIDEMS_EINVAL
                        : gridems__timer_start(inst, false, first_ms, repeat_ms, fn, arg, id);
}

static int v1_timer_start_clock(gridems_plugin_t *self, uint64_t first_ms, uint64_t repeat_ms,
                                gridems_timer_fn fn, void *arg, gridems_timer_id_t *id)
{
    gridems_plugin_t *inst = gridems__instance_lookup(self);
    return inst == NULL ? GRIDEMS_EINVAL
                        : gridems__timer_start(inst, true, first_ms, repeat_ms, fn, arg, id);
}

static int v1_timer_stop(gridems_plugin_t *self, gridems_timer_id_t id)
{
    gridems_plugin_t *inst = gridems__instance_lookup(self);
    return inst == NULL ? GRIDEMS_EINVAL : gridems__timer_stop(inst, id);
}

static int v1_watch_fd(gridems_plugin_t *self, int fd, int events, gridems_fd_fn fn, void *arg,
                       gridems_watch_id_t *id)
{
    gridems_plugin_t *inst = gridems__instance_lookup(self);
    return inst == NULL ? GRIDEMS_EINVAL : gridems__watch_fd(inst, fd, events, fn, arg, id);
}

static int v1_unwatch_fd(gridems_plugin_t *self, gridems_watch_id_t id)
{
    gridems_plugin_t *inst = gridems__instance_lookup(self);
    return inst == NULL ? GRIDEMS_EINVAL : gridems__unwatch_fd(inst, id);
}

static int v1_queue_work(gridems_plugin_t *self, gridems_work_fn work_fn, gridems_done_fn done_fn,
                         void *arg)
{
    gridems_plugin_t *inst = gridems__instance_lookup(self);
    return inst == NULL ? GRIDEMS_EINVAL : gridems__work_submit(inst, work_fn, done_fn, arg, NULL);
}

static int v1_submit_work(gridems_plugin_t *self, gridems_work_fn work_fn, gridems_done_fn done_fn,
                          void *arg, gridems_work_id_t *id)
{
    gridems_plugin_t *inst = gridems__instance_lookup(self);
    return inst == NULL ? GRIDEMS_EINVAL : gridems__work_submit(inst, work_fn, done_fn, arg, id);
}

static int v1_cancel_work(gridems_plugin_t *self, gridems_work_id_t id)
{
    gridems_plugin_t *inst = gridems__instance_lookup(self);
    return inst == NULL ? GRIDEMS_EINVAL : gridems__work_cancel(inst, id);
}

static int v1_publish(gridems_plugin_t *self, const char *topic, const void *payload, size_t len,
                      int qos, int retain)
{
    gridems_plugin_t *inst = gridems__instance_lookup(self);
    return inst == NULL ? GRIDEMS_EINVAL : gridems__publish(inst, topic, payload, len, qos, retain);
}

static int v1_subscribe(gridems_plugin_t *self, const char *topic_filter, gridems_message_fn fn,
                        void *arg)
{
    gridems_plugin_t *inst = gridems__instance_lookup(self);
    return inst == NULL ? GRIDEMS_EINVAL : gridems__subscribe(inst, topic_filter, fn, arg);
}

static int v1_unsubscribe(gridems_plugin_t *self, const char *topic_filter, gridems_message_fn fn,
                          void *arg)
{
    gridems_plugin_t *inst = gridems__instance_lookup(self);
    return inst == NULL ? GRIDEMS_EINVAL : gridems__unsubscribe(inst, topic_filter, fn, arg);
}

static int v1_post_measurement(gridems_plugin_t *self, const gridems_measurement_t *m)
{
    gridems_plugin_t *inst = gridems__instance_lookup(self);
    if (inst == NULL || m == NULL) {
        return GRIDEMS_EINVAL;
    }
    if (inst->state != GRIDEMS__INST_ACTIVE) {
        return GRIDEMS_ESTATE;
    }
    /* The 1.0 members up to energy_kwh must be there; reserved and later ones are not read. */
    size_t min_size = offsetof(gridems_measurement_t, energy_kwh) + sizeof(double);
    if (m->struct_size < min_size) {
        gridems__log(inst, GRIDEMS_LOG_ERR, "post_measurement: struct_size %u is too small",
                     (unsigned)m->struct_size);
        return GRIDEMS_EINVAL;
    }
    gridems_measurement_t copy;
    copy_min(&copy, sizeof copy, m, m->struct_size);
    copy.struct_size = sizeof copy;
    memset(copy.reserved, 0, sizeof copy.reserved);
    return gridems__device_post(inst, &copy);
}

static int v1_register_device(gridems_plugin_t *self, const gridems_device_desc_t *desc,
                              void *dev_userdata, gridems_device_id_t *id)
{
    gridems_plugin_t *inst = gridems__instance_lookup(self);
    if (inst == NULL || desc == NULL || id == NULL) {
        return GRIDEMS_EINVAL;
    }
    if (inst->state == GRIDEMS__INST_CLOSING) {
        return GRIDEMS_ESTATE;
    }
    /* get_capabilities is the last required member; a shorter descriptor (from before 1.0 was
     * frozen) is accepted and its missing callbacks read as NULL. */
    size_t min_size =
        offsetof(gridems_device_desc_t, get_capabilities) + sizeof(gridems_device_caps_fn);
    if (desc->struct_size < min_size) {
        gridems__log(inst, GRIDEMS_LOG_ERR,
                     "register_device: descriptor struct_size %u is smaller than the ABI 1.0 "
                     "minimum %zu",
                     (unsigned)desc->struct_size, min_size);
        return GRIDEMS_EINVAL;
    }
    gridems_device_desc_t d;
    copy_min(&d, sizeof d, desc, desc->struct_size);
    d.struct_size = sizeof d;
    memset(d.reserved, 0, sizeof d.reserved);
    return gridems__device_register(inst, &d, dev_userdata, id);
}

static int v1_unregister_device(gridems_plugin_t *self, gridems_device_id_t id)
{
    gridems_plugin_t *inst = gridems__instance_lookup(self);
    return inst == NULL ? GRIDEMS_EINVAL : gridems__device_unregister(inst, id);
}

static int64_t v1_now_ms(gridems_plugin_t *self)
{
    gridems_plugin_t *inst = gridems__instance_lookup(self);
    if (inst != NULL) {
        return gridems__host_now(inst->host);
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int v1_init_error(gridems_plugin_t *self, const char *fmt, ...)
{
    gridems_plugin_t *inst = gridems__instance_lookup(self);
    if (inst == NULL || fmt == NULL) {
        return GRIDEMS_EINVAL;
    }
    char text[GRIDEMS__INIT_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (inst->in_init) {
        memcpy(inst->init_error, text, sizeof text);
    } else {
        gridems__log(inst, GRIDEMS_LOG_ERR, "%s", text);
    }
    return 0;
}

static const gridems_host_api_t v1_table = {
    .struct_size = sizeof(gridems_host_api_t),
    .abi_major = 1,
    .abi_minor = GRIDEMS_PLUGIN_ABI_MINOR,
    .log = v1_log,
    .vlog = v1_vlog,
    .config_get_string = v1_config_get_string,
    .config_get_int = v1_config_get_int,
    .config_get_double = v1_config_get_double,
    .config_get_bool = v1_config_get_bool,
    .timer_start = v1_timer_start,
    .timer_stop = v1_timer_stop,
    .watch_fd = v1_watch_fd,
    .unwatch_fd = v1_unwatch_fd,
    .queue_work = v1_queue_work,
    .publish = v1_publish,
    .subscribe = v1_subscribe,
    .unsubscribe = v1_unsubscribe,
    .post_measurement = v1_post_measurement,
    .register_device = v1_register_device,
    .now_ms = v1_now_ms,
    /* 1.1 */
    .strerror = gridems_strerror,
    .init_error = v1_init_error,
    .unregister_device = v1_unregister_device,
    .submit_work = v1_submit_work,
    .cancel_work = v1_cancel_work,
    .timer_start_clock = v1_timer_start_clock,
    .option_string = v1_option_string,
    .option_int = v1_option_int,
    .option_double = v1_option_double,
    .option_bool = v1_option_bool,
};

const gridems__abi_t gridems__abi_v1 = {
    .major = 1,
    .api = &v1_table,
    .read_info = v1_read_info,
    .flex_job_size = v1_flex_job_size,
};
