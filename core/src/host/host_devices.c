/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The plugin host's devices: registration and removal, measurements, announcing devices to the
 * service, the service's calls into devices and the checks of their answers.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gridems/errors.h"
#include "host_internal.h"

/* Largest number of flexible jobs one device may report. */
#define MAX_FLEX_JOBS 100000u

/* ---- ## Accessors ---- */

gridems_device_id_t gridems__device_id(const gridems__device_t *dev)
{
    return dev->id;
}

const char *gridems__device_name(const gridems__device_t *dev)
{
    return dev->desc.name;
}

const char *gridems__device_label(const gridems__device_t *dev)
{
    return dev->desc.instance;
}

int gridems__device_class(const gridems__device_t *dev)
{
    return dev->desc.klass;
}

uint32_t gridems__device_read_interval_ms(const gridems__device_t *dev)
{
    return dev->desc.read_interval_ms;
}

gridems_plugin_t *gridems__device_instance(const gridems__device_t *dev)
{
    return dev->inst;
}

void *gridems__device_service_data(const gridems__device_t *dev)
{
    return dev->service_data;
}

void gridems__device_set_service_data(gridems__device_t *dev, void *data)
{
    dev->service_data = data;
}

/* ---- ## Telling the service ---- */

static void announce(gridems__device_t *dev)
{
    gridems__host_t *host = dev->inst->host;
    dev->announced = 1;
    dev->announce_pending = 0;
    if (host->services.device_added != NULL) {
        host->services.device_added(host->services.ctx, dev);
    }
}

static void withdraw(gridems__device_t *dev)
{
    gridems__host_t *host = dev->inst->host;
    dev->announce_pending = 0;
    if (dev->announced) {
        dev->announced = 0;
        if (host->services.device_removed != NULL) {
            host->services.device_removed(host->services.ctx, dev);
        }
    }
}

static void destroy(gridems__device_t *dev)
{
    if (dev->destroyed) {
        return;
    }
    dev->destroyed = 1;
    if (dev->desc.destroy != NULL) {
        uint64_t t0 = uv_hrtime();
        dev->desc.destroy(dev->id, dev->userdata);
        gridems__check_budget(dev->inst, "destroy", t0);
    }
    dev->userdata = NULL;
}

static void free_device(gridems__device_t *dev)
{
    gridems__list_remove(&dev->link);
    free((char *)dev->desc.name);
    free((char *)dev->desc.instance);
    free(dev->jobs);
    free(dev);
}

void gridems__devices_announce_all(gridems_plugin_t *inst)
{
    for (gridems__link_t *l = inst->devices.next; l != &inst->devices; l = l->next) {
        gridems__device_t *dev = GRIDEMS__CONTAINER_OF(l, gridems__device_t, link);
        if (!dev->unregistered) {
            announce(dev);
        }
    }
}

void gridems__devices_withdraw_all(gridems_plugin_t *inst)
{
    for (gridems__link_t *l = inst->devices.next; l != &inst->devices; l = l->next) {
        withdraw(GRIDEMS__CONTAINER_OF(l, gridems__device_t, link));
    }
}

void gridems__devices_destroy_all(gridems_plugin_t *inst)
{
    for (gridems__link_t *l = inst->devices.next; l != &inst->devices; l = l->next) {
        destroy(GRIDEMS__CONTAINER_OF(l, gridems__device_t, link));
    }
}

void gridems__devices_free_all(gridems_plugin_t *inst)
{
    while (!gridems__list_empty(&inst->devices)) {
        free_device(GRIDEMS__CONTAINER_OF(inst->devices.next, gridems__device_t, link));
    }
}

void gridems__devices_later(uv_idle_t *later)
{
    gridems_plugin_t *inst = later->data;
    uv_idle_stop(later);
    if (inst->state != GRIDEMS__INST_ACTIVE) {
        return; /* unloading: the teardown destroys and frees every device */
    }
    /* Announcing may make the service call into the plugin, which may register or unregister
     * again (and restart `later`): walk from the head each time. */
    for (;;) {
        gridems__device_t *next = NULL;
        for (gridems__link_t *l = inst->devices.next; l != &inst->devices; l = l->next) {
            gridems__device_t *dev = GRIDEMS__CONTAINER_OF(l, gridems__device_t, link);
            if (dev->unregistered || dev->announce_pending) {
                next = dev;
                break;
            }
        }
        if (next == NULL || inst->state != GRIDEMS__INST_ACTIVE) {
            return;
        }
        if (next->unregistered) {
            destroy(next);
            free_device(next);
        } else {
            announce(next);
        }
    }
}

/* ---- ## Registration and readings ---- */

static bool device_id_in_use(gridems_plugin_t *inst, uint32_t id)
{
    gridems__host_t *host = inst->host;
    for (gridems__link_t *i = host->instances.next; i != &host->instances; i = i->next) {
        gridems_plugin_t *other = GRIDEMS__CONTAINER_OF(i, gridems_plugin_t, link);
        for (gridems__link_t *l = other->devices.next; l != &other->devices; l = l->next) {
            if (GRIDEMS__CONTAINER_OF(l, gridems__device_t, link)->id == id) {
                return true;
            }
        }
    }
    return false;
}

static gridems__device_t *find_own_device(gridems_plugin_t *inst, gridems_device_id_t id)
{
    for (gridems__link_t *l = inst->devices.next; l != &inst->devices; l = l->next) {
        gridems__device_t *dev = GRIDEMS__CONTAINER_OF(l, gridems__device_t, link);
        if (dev->id == id && !dev->destroyed && !dev->unregistered) {
            return dev;
        }
    }
    return NULL;
}

int gridems__device_post(gridems_plugin_t *self, gridems_measurement_t *m)
{
    if (self->state != GRIDEMS__INST_ACTIVE) {
        return GRIDEMS_ESTATE;
    }
    gridems_measurement_t copy = *m;
    gridems__device_t *dev = find_own_device(self, copy.device);
    if (dev == NULL) {
        gridems__log(self, GRIDEMS_LOG_ERR, "post_measurement: device id %u is not one of ours",
                     (unsigned)copy.device);
        return GRIDEMS_EINVAL;
    }
    copy.valid &= GRIDEMS_MEAS_POWER | GRIDEMS_MEAS_SOC | GRIDEMS_MEAS_ENERGY;
    static const struct {
        uint32_t bit;
        size_t offset;
        const char *name;
    } fields[] = {
        {GRIDEMS_MEAS_POWER, offsetof(gridems_measurement_t, power_kw), "power_kw"},
        {GRIDEMS_MEAS_SOC, offsetof(gridems_measurement_t, soc_kwh), "soc_kwh"},
        {GRIDEMS_MEAS_ENERGY, offsetof(gridems_measurement_t, energy_kwh), "energy_kwh"},
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        double *v = (double *)(void *)((char *)&copy + fields[i].offset);
        if (!(copy.valid & fields[i].bit)) {
            *v = 0;
        } else if (!isfinite(*v)) {
            gridems_log_complain(&dev->complaint[GRIDEMS__DEV_OP_MEASUREMENT], GRIDEMS_LOG_ERR,
                                 "%s device %s: measurement %s is not a finite number",
                                 self->prefix, dev->desc.name, fields[i].name);
            return GRIDEMS_EINVAL;
        }
    }
    if (copy.timestamp_ms == 0) {
        copy.timestamp_ms = gridems__host_now(self->host);
    }
    gridems__host_t *host = self->host;
    if (host->services.measurement != NULL) {
        host->services.measurement(host->services.ctx, dev, &copy);
    }
    return 0;
}

static bool device_name_taken(gridems__host_t *host, const char *name)
{
    for (gridems__link_t *i = host->instances.next; i != &host->instances; i = i->next) {
        gridems_plugin_t *inst = GRIDEMS__CONTAINER_OF(i, gridems_plugin_t, link);
        if (inst->state == GRIDEMS__INST_CLOSING) {
            continue; /* being replaced, e.g. by a reload of the same instance */
        }
        for (gridems__link_t *l = inst->devices.next; l != &inst->devices; l = l->next) {
            const gridems__device_t *dev = GRIDEMS__CONTAINER_OF(l, gridems__device_t, link);
            if (!dev->unregistered && strcmp(dev->desc.name, name) == 0) {
                return true;
            }
        }
    }
    return false;
}

int gridems__device_register(gridems_plugin_t *self, gridems_device_desc_t *desc,
                             void *dev_userdata, gridems_device_id_t *id)
{
    if (id == NULL) {
        return GRIDEMS_EINVAL;
    }
    if (self->state == GRIDEMS__INST_CLOSING) {
        return GRIDEMS_ESTATE;
    }
    gridems_device_desc_t d = *desc;
    if (!gridems__ident_valid(d.name)) {
        gridems__log(self, GRIDEMS_LOG_ERR,
                     "register_device: device name \"%s\" is not 1 to %d characters of "
                     "[A-Za-z0-9_.-]",
                     d.name != NULL ? d.name : "(null)", GRIDEMS__IDENT_MAX - 1);
        return GRIDEMS_EINVAL;
    }
    if (d.klass < GRIDEMS_DEV_BATTERY || d.klass > GRIDEMS_DEV_FLEX_LOAD ||
        !(self->info.classes & GRIDEMS_CLASS_BIT(d.klass))) {
        gridems__log(self, GRIDEMS_LOG_ERR,
                     "register_device %s: class %d is not one the plugin declared in "
                     "gridems_plugin_info.classes",
                     d.name, (int)d.klass);
        return GRIDEMS_EINVAL;
    }
    if (d.get_capabilities == NULL) {
        gridems__log(self, GRIDEMS_LOG_ERR, "register_device %s: get_capabilities is required",
                     d.name);
        return GRIDEMS_EINVAL;
    }
    if (d.instance != NULL && strlen(d.instance) > 255) {
        gridems__log(self, GRIDEMS_LOG_ERR, "register_device %s: instance is longer than 255 bytes",
                     d.name);
        return GRIDEMS_EINVAL;
    }
    if (device_name_taken(self->host, d.name)) {
        gridems__log(self, GRIDEMS_LOG_ERR, "register_device: a device named \"%s\" already exists",
                     d.name);
        return GRIDEMS_EEXIST;
    }
    gridems__device_t *dev = calloc(1, sizeof *dev);
    char *name = strdup(d.name);
    char *label = d.instance != NULL ? strdup(d.instance) : NULL;
    if (dev == NULL || name == NULL || (d.instance != NULL && label == NULL)) {
        free(dev);
        free(name);
        free(label);
        return GRIDEMS_ENOMEM;
    }
    d.name = name;
    d.instance = label;
    dev->desc = d;
    dev->inst = self;
    dev->userdata = dev_userdata;
    dev->id = gridems__host_alloc_id(self->host, self, device_id_in_use);
    gridems__list_insert_tail(&self->devices, &dev->link);
    *id = dev->id;
    if (self->state == GRIDEMS__INST_ACTIVE) {
        /* Never from inside register_device: the service calls into the device when it learns
         * of it (the first read), and the plugin is still inside this call. */
        dev->announce_pending = 1;
        uv_idle_start(&self->later, gridems__devices_later);
    }
    return 0;
}

int gridems__device_unregister(gridems_plugin_t *self, gridems_device_id_t id)
{
    gridems__device_t *dev = find_own_device(self, id);
    if (dev == NULL) {
        return GRIDEMS_ENOENT;
    }
    dev->unregistered = 1;
    withdraw(dev);
    if (self->state == GRIDEMS__INST_CLOSING) {
        return 0; /* the teardown destroys it */
    }
    /* destroy() from the loop, after the plugin's current callback returned. */
    uv_idle_start(&self->later, gridems__devices_later);
    return 0;
}

/* ---- ## The service's calls into devices ---- */

gridems__device_t *gridems__host_find_device(gridems__host_t *host, gridems_device_id_t id)
{
    for (gridems__link_t *i = host->instances.next; i != &host->instances; i = i->next) {
        gridems_plugin_t *inst = GRIDEMS__CONTAINER_OF(i, gridems_plugin_t, link);
        if (inst->state != GRIDEMS__INST_ACTIVE) {
            continue;
        }
        gridems__device_t *dev = find_own_device(inst, id);
        if (dev != NULL) {
            return dev;
        }
    }
    return NULL;
}

int gridems__host_foreach_device(gridems__host_t *host,
                                 int (*fn)(void *arg, gridems__device_t *dev), void *arg)
{
    for (gridems__link_t *i = host->instances.next; i != &host->instances; i = i->next) {
        gridems_plugin_t *inst = GRIDEMS__CONTAINER_OF(i, gridems_plugin_t, link);
        if (inst->state != GRIDEMS__INST_ACTIVE) {
            continue;
        }
        for (gridems__link_t *l = inst->devices.next; l != &inst->devices; l = l->next) {
            gridems__device_t *dev = GRIDEMS__CONTAINER_OF(l, gridems__device_t, link);
            if (!dev->announced) {
                continue; /* announced on the next loop turn, or unregistered */
            }
            int rc = fn(arg, dev);
            if (rc != 0) {
                return rc;
            }
        }
    }
    return 0;
}

static int device_usable(const gridems__device_t *dev)
{
    if (dev == NULL) {
        return GRIDEMS_EINVAL;
    }
    if (dev->destroyed || dev->unregistered || dev->inst->state != GRIDEMS__INST_ACTIVE) {
        return GRIDEMS_ESTATE;
    }
    return 0;
}

static const char *const op_names[GRIDEMS__DEV_OP_COUNT] = {
    "read", "get_capabilities", "apply_setpoint", "on_event", "post_measurement"};

/* A plugin's answer: negative is an error (complained about, rate-limited), anything else 0.
 * GRIDEMS_EAGAIN means "no data yet" (a device before its first reading): not a failure. */
static int plugin_result(gridems__device_t *dev, int op, int rc)
{
    if (rc == GRIDEMS_EAGAIN) {
        gridems_log_debug("%s device %s: %s: no data yet", dev->inst->prefix, dev->desc.name,
                          op_names[op]);
        return rc;
    }
    if (rc < 0) {
        gridems_log_complain(&dev->complaint[op], GRIDEMS_LOG_WARNING,
                             "%s device %s: %s failed: %s", dev->inst->prefix, dev->desc.name,
                             op_names[op], gridems_strerror(rc));
        return rc;
    }
    gridems_log_release(&dev->complaint[op], "%s device %s: %s works again", dev->inst->prefix,
                        dev->desc.name, op_names[op]);
    return 0;
}

int gridems__device_read(gridems__device_t *dev)
{
    int rc = device_usable(dev);
    if (rc < 0) {
        return rc;
    }
    if (dev->desc.read == NULL) {
        return GRIDEMS_ENOENT;
    }
    uint64_t t0 = uv_hrtime();
    rc = dev->desc.read(dev->id, dev->userdata);
    gridems__check_budget(dev->inst, "read", t0);
    return plugin_result(dev, GRIDEMS__DEV_OP_READ, rc);
}

static bool finite_nonneg(double v)
{
    return isfinite(v) && v >= 0;
}

/* The reason a battery answer is unusable, or NULL. Fills the defaults that depend on others. */
static const char *check_battery(gridems_battery_caps_t *b)
{
    if (!(isfinite(b->capacity_kwh) && b->capacity_kwh > 0)) {
        return "capacity_kwh must be a number > 0";
    }
    if (isnan(b->soc_max_kwh)) {
        b->soc_max_kwh = b->capacity_kwh;
    }
    if (!finite_nonneg(b->soc_kwh) || b->soc_kwh > b->capacity_kwh) {
        return "soc_kwh must be within [0, capacity_kwh]";
    }
    if (!finite_nonneg(b->soc_min_kwh) || !finite_nonneg(b->soc_max_kwh) ||
        b->soc_min_kwh > b->soc_max_kwh || b->soc_max_kwh > b->capacity_kwh) {
        return "soc_min_kwh <= soc_max_kwh <= capacity_kwh must hold";
    }
    if (!finite_nonneg(b->charge_max_kw) || !finite_nonneg(b->discharge_max_kw)) {
        return "charge_max_kw and discharge_max_kw must be numbers >= 0";
    }
    if (!(b->charge_efficiency > 0 && b->charge_efficiency <= 1) ||
        !(b->discharge_efficiency > 0 && b->discharge_efficiency <= 1)) {
        return "efficiencies must be within (0, 1]";
    }
    if (!finite_nonneg(b->cycle_cost_per_kwh) || !finite_nonneg(b->ramp_kw_per_s)) {
        return "cycle_cost_per_kwh and ramp_kw_per_s must be numbers >= 0";
    }
    return NULL;
}

/* Bring the plugin's job array into the host's layout (its element size may be another ABI
 * minor's: the adapter says which), into dev->jobs when it differs. */
static const char *adopt_flex_jobs(gridems__device_t *dev, gridems_flex_caps_t *f)
{
    if (f->n_jobs > MAX_FLEX_JOBS) {
        return "more than 100000 jobs";
    }
    if (f->n_jobs > 0 && f->jobs == NULL) {
        return "n_jobs > 0 but jobs is NULL";
    }
    const gridems__abi_t *abi = dev->inst->abi != NULL ? dev->inst->abi : &gridems__abi_v1;
    size_t elem = abi->flex_job_size(&dev->inst->info, f);
    if (elem == 0) {
        return "job_size is smaller than the ABI 1.0 gridems_flex_job_t";
    }
    f->job_size = sizeof(gridems_flex_job_t);
    if (elem == sizeof(gridems_flex_job_t) || f->n_jobs == 0) {
        return NULL;
    }
    if (f->n_jobs > dev->jobs_cap) {
        gridems_flex_job_t *grown = realloc(dev->jobs, f->n_jobs * sizeof *grown);
        if (grown == NULL) {
            return "out of memory copying the jobs";
        }
        dev->jobs = grown;
        dev->jobs_cap = f->n_jobs;
    }
    size_t n = elem < sizeof(gridems_flex_job_t) ? elem : sizeof(gridems_flex_job_t);
    for (uint32_t i = 0; i < f->n_jobs; i++) {
        memset(&dev->jobs[i], 0, sizeof dev->jobs[i]);
        memcpy(&dev->jobs[i], (const char *)f->jobs + (size_t)i * elem, n);
    }
    f->jobs = dev->jobs;
    return NULL;
}

static const char *check_flex(const gridems_flex_caps_t *f)
{
    if (!isfinite(f->power_cap_kw)) {
        return "power_cap_kw must be a number";
    }
    for (uint32_t i = 0; i < f->n_jobs; i++) {
        const gridems_flex_job_t *j = &f->jobs[i];
        if (j->id == NULL || j->id[0] == '\0' || strlen(j->id) > 255) {
            return "a job id is empty or longer than 255 bytes";
        }
        if (!finite_nonneg(j->energy_remaining_kwh) || !finite_nonneg(j->energy_delivered_kwh)) {
            return "a job's energies must be numbers >= 0";
        }
        if (!(isfinite(j->power_max_kw) && j->power_max_kw > 0)) {
            return "a job's power_max_kw must be a number > 0";
        }
        if (j->deadline_ms <= j->earliest_ms) {
            return "a job's deadline_ms must be after its earliest_ms";
        }
    }
    return NULL;
}

int gridems__device_get_capabilities(gridems__device_t *dev, gridems_caps_t *out)
{
    int rc = device_usable(dev);
    if (rc < 0 || out == NULL) {
        return rc < 0 ? rc : GRIDEMS_EINVAL;
    }
    memset(out, 0, sizeof *out);
    out->struct_size = sizeof *out;
    out->klass = dev->desc.klass;
    switch (dev->desc.klass) {
    case GRIDEMS_DEV_BATTERY:
        out->u.battery.capacity_kwh = NAN;
        out->u.battery.soc_kwh = NAN;
        out->u.battery.soc_max_kwh = NAN;
        out->u.battery.charge_max_kw = NAN;
        out->u.battery.discharge_max_kw = NAN;
        out->u.battery.charge_efficiency = 1.0;
        out->u.battery.discharge_efficiency = 1.0;
        break;
    case GRIDEMS_DEV_METER:
        out->u.meter.role = GRIDEMS_METER_SITE;
        break;
    default:
        out->u.flex.power_cap_kw = -1.0;
        break;
    }
    uint64_t t0 = uv_hrtime();
    rc = dev->desc.get_capabilities(dev->id, dev->userdata, out);
    gridems__check_budget(dev->inst, "get_capabilities", t0);
    /* The host's own fields are not the plugin's to change. */
    out->struct_size = sizeof *out;
    out->klass = dev->desc.klass;
    if (rc < 0) {
        return plugin_result(dev, GRIDEMS__DEV_OP_CAPS, rc);
    }
    const char *bad = NULL;
    switch (dev->desc.klass) {
    case GRIDEMS_DEV_BATTERY:
        bad = check_battery(&out->u.battery);
        break;
    case GRIDEMS_DEV_METER:
        if (out->u.meter.role < GRIDEMS_METER_SITE || out->u.meter.role > GRIDEMS_METER_OTHER) {
            bad = "role is not a GRIDEMS_METER_* value";
        }
        break;
    default:
        bad = adopt_flex_jobs(dev, &out->u.flex);
        bad = bad != NULL ? bad : check_flex(&out->u.flex);
        break;
    }
    if (bad != NULL) {
        gridems_log_complain(&dev->complaint[GRIDEMS__DEV_OP_CAPS], GRIDEMS_LOG_ERR,
                             "%s device %s: get_capabilities answered nonsense: %s",
                             dev->inst->prefix, dev->desc.name, bad);
        return GRIDEMS_EPLUGIN;
    }
    if (out->measured_ms == 0) {
        out->measured_ms = gridems__host_now(dev->inst->host);
    }
    return plugin_result(dev, GRIDEMS__DEV_OP_CAPS, 0);
}

int gridems__device_apply_setpoint(gridems__device_t *dev, const gridems_setpoint_t *sp)
{
    int rc = device_usable(dev);
    if (rc < 0) {
        return rc;
    }
    if (sp == NULL || sp->struct_size != sizeof *sp || !isfinite(sp->power_kw) ||
        !isfinite(sp->power_cap_kw) || (sp->n_jobs > 0 && sp->jobs == NULL)) {
        return GRIDEMS_EINVAL;
    }
    if (dev->desc.apply_setpoint == NULL) {
        return GRIDEMS_ENOENT;
    }
    gridems_setpoint_t copy = *sp; /* the plugin's, with the element size of jobs */
    copy.job_size = sizeof(gridems_job_setpoint_t);
    uint64_t t0 = uv_hrtime();
    rc = dev->desc.apply_setpoint(dev->id, dev->userdata, &copy);
    gridems__check_budget(dev->inst, "apply_setpoint", t0);
    return plugin_result(dev, GRIDEMS__DEV_OP_SETPOINT, rc);
}

int gridems__device_on_event(gridems__device_t *dev, const gridems_device_event_t *ev)
{
    int rc = device_usable(dev);
    if (rc < 0) {
        return rc;
    }
    if (ev == NULL || ev->struct_size != sizeof *ev) {
        return GRIDEMS_EINVAL;
    }
    if (dev->desc.on_event == NULL) {
        return GRIDEMS_ENOENT;
    }
    uint64_t t0 = uv_hrtime();
    rc = dev->desc.on_event(dev->id, dev->userdata, ev);
    gridems__check_budget(dev->inst, "on_event", t0);
    return plugin_result(dev, GRIDEMS__DEV_OP_EVENT, rc);
}
