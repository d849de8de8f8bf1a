/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * A host stand-in for examples/plugin-hello-battery, compiled by test_installed_sdk.sh against
 * the installed headers only: it dlopens the built plugin, fills its options from the plugin's
 * own option table, calls init with a fake host API and a hand-driven clock, and checks the
 * physics: limits, efficiency, the set-point watchdog, safe mode, and that init refuses a bad
 * option. It also shows a vendor how to unit-test a plugin without the service or hardware.
 * usage: hello_battery_check PLUGIN.so; exit 0 or 1.
 */
#include <dlfcn.h>
#include <gridems/plugin.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int64_t now = INT64_C(1700000000000);
static gridems_device_desc_t desc;
static void *dev_data;
static gridems_measurement_t last;
static int n_posted, failures;

static void fake_vlog(gridems_plugin_t *self, int level, const char *fmt, va_list ap)
{
    (void)self;
    fprintf(stderr, "  [plugin log %d] ", level);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

static void fake_log(gridems_plugin_t *self, int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fake_vlog(self, level, fmt, ap);
    va_end(ap);
}

static int fake_register(gridems_plugin_t *self, const gridems_device_desc_t *d, void *ud,
                         gridems_device_id_t *id)
{
    (void)self;
    desc = *d;
    dev_data = ud;
    *id = 7;
    return 0;
}

static int fake_post(gridems_plugin_t *self, const gridems_measurement_t *m)
{
    (void)self;
    last = *m;
    n_posted++;
    return 0;
}

static int64_t fake_now(gridems_plugin_t *self)
{
    (void)self;
    return now;
}

static void expect(int cond, const char *what)
{
    printf("%s - %s\n", cond ? "ok" : "NOT OK", what);
    failures += !cond;
}

static int near(double a, double b)
{
    return fabs(a - b) < 1e-6;
}

static void set_option(const gridems_plugin_info_t *info, void *ctx, const char *key, double v)
{
    for (const gridems_option_t *o = info->options; o != NULL && o->key != NULL; o++) {
        if (strcmp(o->key, key) == 0 && o->type == GRIDEMS_OPT_DOUBLE) {
            memcpy((char *)ctx + o->offset, &v, sizeof v);
            return;
        }
    }
    fprintf(stderr, "no double option %s\n", key);
    exit(1);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: hello_battery_check PLUGIN.so\n");
        return 1;
    }
    void *dl = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (dl == NULL) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 1;
    }
    const gridems_plugin_info_t *info = dlsym(dl, "gridems_plugin_info");
    int (*init)(gridems_plugin_t *, const gridems_host_api_t *, const gridems_config_t *, void **) =
        (int (*)(gridems_plugin_t *, const gridems_host_api_t *, const gridems_config_t *,
                 void **))dlsym(dl, "gridems_plugin_init");
    if (info == NULL || init == NULL) {
        fprintf(stderr, "missing entry points\n");
        return 1;
    }
    gridems_host_api_t api = {.struct_size = sizeof api,
                              .abi_major = GRIDEMS_PLUGIN_ABI_MAJOR,
                              .abi_minor = GRIDEMS_PLUGIN_ABI_MINOR,
                              .log = fake_log,
                              .vlog = fake_vlog,
                              .post_measurement = fake_post,
                              .register_device = fake_register,
                              .now_ms = fake_now};
    char self_storage[16];
    gridems_plugin_t *self = (gridems_plugin_t *)(void *)self_storage;
    void *ctx = calloc(1, info->context_size);
    set_option(info, ctx, "capacity_kwh", 200);
    set_option(info, ctx, "max_power_kw", 40);
    gridems_config_t cfg = {
        .struct_size = sizeof cfg, .plugin = info->name, .instance = "hello1", .context = ctx};
    void *ud = NULL;
    expect(init(self, &api, &cfg, &ud) == 0 && desc.get_capabilities != NULL, "init registers");
    expect(desc.klass == GRIDEMS_DEV_BATTERY && strcmp(desc.name, "hello1") == 0,
           "one battery named after the instance");

    gridems_caps_t caps = {.struct_size = sizeof caps, .klass = GRIDEMS_DEV_BATTERY};
    expect(desc.get_capabilities(7, dev_data, &caps) == 0 &&
               near(caps.u.battery.capacity_kwh, 200) && near(caps.u.battery.soc_kwh, 100) &&
               near(caps.u.battery.discharge_max_kw, 40),
           "capabilities: 200 kWh, half full, 40 kW");

    /* Discharge 100 kW asked, 40 kW allowed, valid for 1.5 h. */
    gridems_setpoint_t sp = {.struct_size = sizeof sp,
                             .plan_id = 1,
                             .timestamp_ms = now,
                             .valid_until_ms = now + 5400000,
                             .power_kw = 100};
    expect(desc.apply_setpoint(7, dev_data, &sp) == 0, "set-point accepted");
    now += 3600000;
    expect(desc.read(7, dev_data) == 0 && n_posted == 1, "read posts a measurement");
    expect(near(last.power_kw, 40) && near(last.soc_kwh, 100 - 40 / 0.95),
           "after 1 h at the 40 kW limit: 100 - 40/0.95 kWh");
    now += 2 * 3600000; /* the set-point expired 0.5 h after the last read */
    desc.read(7, dev_data);
    expect(near(last.power_kw, 0) && near(last.soc_kwh, 100 - 1.5 * 40 / 0.95),
           "watchdog: zero power once the set-point expired");

    sp = (gridems_setpoint_t){
        .struct_size = sizeof sp, .plan_id = 2, .timestamp_ms = now, .power_kw = -20};
    desc.apply_setpoint(7, dev_data, &sp);
    double before = last.soc_kwh;
    now += 3600000;
    desc.read(7, dev_data);
    expect(near(last.power_kw, -20) && near(last.soc_kwh, before + 20 * 0.95),
           "charging 20 kW for 1 h stores 19 kWh");
    sp.safe_mode = 1;
    desc.apply_setpoint(7, dev_data, &sp);
    desc.read(7, dev_data);
    expect(near(last.power_kw, 0), "safe mode holds at zero power");
    if (desc.destroy != NULL) {
        desc.destroy(7, dev_data);
    }

    memset(&desc, 0, sizeof desc);
    set_option(info, ctx, "capacity_kwh", -1);
    expect(init(self, &api, &cfg, &ud) == GRIDEMS_ECONFIG && desc.get_capabilities == NULL,
           "init refuses capacity_kwh = -1 and registers nothing");
    free(ctx);
    dlclose(dl);
    return failures == 0 ? 0 : 1;
}
