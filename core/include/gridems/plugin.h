/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * gridems device plugin ABI, major version 1.
 *
 * This header is everything a vendor needs to write a device plugin (a battery, a meter, an
 * AI-cluster scheduler) for the gridems service. It depends only on the C standard library and
 * gridems/errors.h; no libuv or cJSON type appears in it, so a plugin survives an upgrade of the
 * libraries the host is built on.
 *
 * ---- ## Overview ----
 *
 * A plugin is a shared object named gridems_<class>_<name>.so (battery_modbus, meter_sunspec,
 * cluster_slurm), built with -fvisibility=hidden. It exports, with C linkage and default
 * visibility:
 *
 *   gridems_plugin_version()    required; emitted by GRIDEMS_PLUGIN_DECLARE();
 *   gridems_plugin_signature    required; emitted by the same macro (the build signature);
 *   gridems_plugin_info         required; a const gridems_plugin_info_t the plugin defines: its
 *                               identity, device classes and option table;
 *   gridems_plugin_init()       required; called once per configured instance;
 *   gridems_plugin_cleanup()    optional; called once per instance after its devices are
 *                               destroyed, to release what init kept in *userdata.
 *
 * A minimal plugin:
 *
 *   #include <gridems/plugin.h>
 *
 *   struct sim_opts { double capacity_kwh; const char *topic; };
 *   static const gridems_option_t sim_options[] = {
 *       {GRIDEMS_OPT_DOUBLE, "capacity_kwh", NULL, 1, offsetof(struct sim_opts, capacity_kwh),
 *        "usable capacity in kWh"},
 *       {GRIDEMS_OPT_STRING, "topic", "site/bess", 0, offsetof(struct sim_opts, topic),
 *        "MQTT topic prefix of the gateway"},
 *       GRIDEMS_OPTION_END};
 *   GRIDEMS_PLUGIN_DECLARE();
 *   const gridems_plugin_info_t gridems_plugin_info = {
 *       GRIDEMS_PLUGIN_INFO_HEADER,
 *       .name = "battery_sim", .version = "1.0", .description = "simulated battery",
 *       .classes = GRIDEMS_CLASS_BIT(GRIDEMS_DEV_BATTERY),
 *       .options = sim_options, .context_size = sizeof(struct sim_opts)};
 *   int gridems_plugin_init(gridems_plugin_t *self, const gridems_host_api_t *api,
 *                           const gridems_config_t *cfg, void **userdata)
 *   {
 *       const struct sim_opts *o = cfg->context;   (filled by the host, validated)
 *       if (o->capacity_kwh <= 0) {
 *           if (GRIDEMS_API_HAS(api, init_error))
 *               api->init_error(self, "capacity_kwh must be > 0, got %g", o->capacity_kwh);
 *           return GRIDEMS_ECONFIG;
 *       }
 *       ... allocate device state, api->register_device(self, &desc, state, &id) ...
 *       return 0;
 *   }
 *
 * ---- ## Loading sequence (what the host does, in order) ----
 *
 *  1. Reads the build signature from the file's ".gridems.signature" ELF section WITHOUT running
 *     any plugin code, and refuses a mismatch ("plugin X is not binary compatible (signature
 *     ...)"). Checking before dlopen() matters: an ASan-instrumented plugin would otherwise abort
 *     a non-ASan host inside dlopen(), before any message could be printed.
 *  2. dlopen(path, RTLD_NOW | RTLD_LOCAL); then looks up the symbols above.
 *  3. Calls gridems_plugin_version() with the ABI majors it supports, newest first; the plugin
 *     answers the one it implements or -1 to refuse.
 *  4. Validates gridems_plugin_info and its option table (a broken table refuses the plugin).
 *  5. Validates the instance's options against the table: an unknown key, a wrong type or a
 *     missing required key is a load error naming the plugin, the instance and the key.
 *  6. Allocates context_size zeroed bytes, stores each option (given or default) at its offset,
 *     and calls gridems_plugin_init(). The plugin registers its devices from init.
 *  7. At unload (shutdown, or on SIGHUP the instance's entry changed or was removed: see
 *     GRIDEMS_EVT_RELOAD), or when init failed: stops
 *     delivering timer, fd and message callbacks; stops the fd watches; cancels queued work and
 *     waits for work already running, whose done_fn gets GRIDEMS_ECANCELED; then calls each
 *     device's destroy() exactly once, then gridems_plugin_cleanup() if exported, then closes the
 *     timers and drops the subscriptions; only when every handle is closed does it dlclose() the
 *     object. No callback is ever called into an unloaded object, and no work_fn is running when
 *     destroy() is called.
 *
 * The same shared object may serve several instances (two batteries of one make): keep every
 * per-instance state in what init allocates, never in globals.
 *
 * plugin-info: `gridems plugin-info PATH` runs steps 1 to 4 only (never init) and prints the
 * identity, signature, classes and option table from gridems_plugin_info. The option table is
 * therefore static data of the plugin, not something registered at run time: the host must know
 * it before init, both to validate the configuration and to document the plugin.
 *
 * ---- ## Threading contract ----
 *
 *  - Every callback the host makes into a plugin (init, cleanup, timer, fd, message, work done,
 *    and the device callbacks) runs on the host's event-loop thread, one at a time.
 *  - A callback must not block. The budget is 5 ms per call; the host logs (rate-limited) when a
 *    plugin exceeds it. Blocking I/O (Modbus/TCP, serial, HTTP) goes through queue_work(): its
 *    work_fn runs on a pool thread, and its done_fn comes back on the loop thread.
 *  - Every host API function must be called on the loop thread, from inside a callback, except
 *    log(), vlog() and strerror(), which any thread may call (work_fn included).
 *  - A work_fn must not call any other host function, and must not touch state that loop-thread
 *    callbacks touch without its own locking.
 *
 * ---- ## Errors and ownership ----
 *
 * 0 is success and a negative GRIDEMS_E* value (gridems/errors.h) is an error; positive values
 * are only counts. A host function that returns an error never calls the callback it was given.
 * Every pointer parameter says who owns it:
 *   borrowed                     valid only during the call (or the callback);
 *   copied                       the host copies it before returning;
 *   transferred on success only  the host owns it if and only if the call returns 0;
 *   returned, caller frees with X.
 *
 * ---- ## Versioning ----
 *
 * The major (GRIDEMS_PLUGIN_ABI_MAJOR) is stated once, in this header: GRIDEMS_PLUGIN_DECLARE()
 * and GRIDEMS_PLUGIN_INFO_HEADER both take it from here. It changes only on an incompatible
 * change (a removed or reordered field, a changed meaning); a host keeps running the older majors
 * it lists in gridems_plugin_version's `supported` (one adapter per old major in the host).
 *
 * GRIDEMS_PLUGIN_ABI_MINOR counts compatible additions, and there is one growth rule for them:
 * append. Every struct that crosses the boundary starts with struct_size (the sizeof the side that
 * filled it was compiled with), and every array carries its element size (option_size,
 * flex_job_size / job_size); new members are only ever added at the end.
 *   - A struct or array the plugin hands to the host: the host accepts any size at least the
 *     ABI 1.0 size (a few accept less, see each struct), reads min(size, its own sizeof) bytes
 *     and treats the members beyond as zero/NULL. A member added in a later minor is defined so
 *     that zero means the ABI 1.0 behaviour: a 1.0 source compiled against a newer header, which
 *     leaves the new members zero, keeps its 1.0 meaning.
 *   - A struct or array the host hands to the plugin (the API table, gridems_config_t,
 *     gridems_caps_t, gridems_setpoint_t and its jobs, gridems_device_event_t,
 *     gridems_message_t): before reading or writing a member added after 1.0, check
 *     GRIDEMS_API_HAS(api, entry) or GRIDEMS_STRUCT_HAS(ptr, type, member); step through a
 *     host array by its element size (GRIDEMS_SETPOINT_JOB).
 *   - The `reserved` members are dead bytes of the 1.0 layout: the host never reads them, they
 *     will never be given a meaning (a plugin may leave anything there), and members are added
 *     after them, never in their place.
 *
 * ABI 1.1 (this header) adds, each checked as noted: strerror, init_error, unregister_device,
 * submit_work/cancel_work, timer_start_clock and the option_* getters in the API table
 * (GRIDEMS_API_HAS); gridems_plugin_info_t.flex_job_size (set by GRIDEMS_PLUGIN_INFO_HEADER),
 * gridems_flex_caps_t.job_size and gridems_setpoint_t.job_size (element sizes); and the host's
 * check of every gridems_plugin_t and gridems_config_t pointer it is handed (GRIDEMS_EINVAL for
 * one that is not a live instance of this host, instead of a crash); and the bound on a
 * reading's time, GRIDEMS_READING_MAX_AHEAD_MS (a constant: nothing to check). A 1.0 plugin runs
 * unchanged in a 1.1 host, and a 1.1 plugin runs in a 1.0 host as long as it checks each
 * addition first.
 */
#ifndef GRIDEMS_PLUGIN_H
#define GRIDEMS_PLUGIN_H

#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "gridems/errors.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- ## Version and build signature ---- */

#define GRIDEMS_PLUGIN_ABI_MAJOR 1
#define GRIDEMS_PLUGIN_ABI_MINOR 1

#if !defined(__GNUC__) || !defined(__SIZEOF_POINTER__) || !defined(__BYTE_ORDER__)
#error "gridems plugins need a GCC-compatible compiler (GCC or Clang) producing ELF objects"
#endif

/* Default visibility for the exported entry points of a plugin built with -fvisibility=hidden. */
#define GRIDEMS_PLUGIN_EXPORT __attribute__((visibility("default")))

/* The ELF section that holds the build signature, read by the host before dlopen(). */
#define GRIDEMS_PLUGIN_SIGNATURE_SECTION ".gridems.signature"

#define GRIDEMS__STR2(x) #x
#define GRIDEMS__STR(x) GRIDEMS__STR2(x)

/* time_t width. glibc's _TIME_BITS=64 makes time_t 64-bit on 32-bit targets; otherwise glibc's
 * __TIMESIZE tells, and other C libraries are assumed to use long. The static assertion below
 * turns a wrong guess into a compile error rather than a silently wrong signature. */
#if defined(_TIME_BITS) && _TIME_BITS == 64
#define GRIDEMS__TIME_BITS 64
#elif defined(__TIMESIZE)
#define GRIDEMS__TIME_BITS __TIMESIZE
#else
#define GRIDEMS__TIME_BITS (__SIZEOF_LONG__ * 8)
#endif
#if GRIDEMS__TIME_BITS == 64
#define GRIDEMS__SIG_TIME "64"
#else
#define GRIDEMS__SIG_TIME "32"
#endif
#ifdef __cplusplus
static_assert(sizeof(time_t) * CHAR_BIT == GRIDEMS__TIME_BITS, "unexpected time_t width");
#else
_Static_assert(sizeof(time_t) * CHAR_BIT == GRIDEMS__TIME_BITS, "unexpected time_t width");
#endif

/* How doubles are passed: in FP registers or in integer registers. Only ARM and RISC-V have
 * both conventions on the same architecture; elsewhere the ELF machine type decides. */
#if defined(__ARM_PCS_VFP)
#define GRIDEMS__SIG_FP "hard"
#elif defined(__arm__)
#define GRIDEMS__SIG_FP "soft"
#elif defined(__riscv_float_abi_double)
#define GRIDEMS__SIG_FP "double"
#elif defined(__riscv_float_abi_single)
#define GRIDEMS__SIG_FP "single"
#elif defined(__riscv_float_abi_soft)
#define GRIDEMS__SIG_FP "soft"
#else
#define GRIDEMS__SIG_FP "native"
#endif

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define GRIDEMS__SIG_ENDIAN "le"
#else
#define GRIDEMS__SIG_ENDIAN "be"
#endif

/* Sanitizers that change the run-time environment: an ASan/TSan/MSan/HWASan runtime must be the
 * first library of the process, so such a plugin cannot be loaded into a host built without the
 * same one (and the reverse mixes instrumented and uninstrumented memory). UBSan changes nothing
 * the host can see and is deliberately not part of the signature. */
#if defined(__SANITIZE_ADDRESS__)
#define GRIDEMS__SIG_SAN "asan"
#elif defined(__SANITIZE_THREAD__)
#define GRIDEMS__SIG_SAN "tsan"
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GRIDEMS__SIG_SAN "asan"
#elif __has_feature(hwaddress_sanitizer)
#define GRIDEMS__SIG_SAN "hwasan"
#elif __has_feature(thread_sanitizer)
#define GRIDEMS__SIG_SAN "tsan"
#elif __has_feature(memory_sanitizer)
#define GRIDEMS__SIG_SAN "msan"
#endif
#endif
#ifndef GRIDEMS__SIG_SAN
#define GRIDEMS__SIG_SAN "none"
#endif

/*
 * The build signature: everything besides this header that must agree between host and plugin,
 * as one readable string compared byte for byte, e.g.
 *   "gsig1 ptr=8 long=8 time=64 dbl=8 ldbl=16 fp=native le san=none"
 * Fields: the signature format ("gsig1"), pointer, long, time_t (bits), double and long double
 * sizes, the floating-point calling convention, the byte order, and the sanitizer runtime. The
 * ABI major version is deliberately not part of it: that is negotiated by gridems_plugin_version.
 * Build options that do not change this header's layout (NDEBUG, -O levels) are not part of it.
 */
#define GRIDEMS__SIG_PTR " ptr=" GRIDEMS__STR(__SIZEOF_POINTER__)
#define GRIDEMS__SIG_LONG " long=" GRIDEMS__STR(__SIZEOF_LONG__)
#define GRIDEMS__SIG_DBL " dbl=" GRIDEMS__STR(__SIZEOF_DOUBLE__)
#define GRIDEMS__SIG_LDBL " ldbl=" GRIDEMS__STR(__SIZEOF_LONG_DOUBLE__)
#define GRIDEMS_PLUGIN_SIGNATURE                                                                   \
    "gsig1" GRIDEMS__SIG_PTR GRIDEMS__SIG_LONG                                                     \
    " time=" GRIDEMS__SIG_TIME GRIDEMS__SIG_DBL GRIDEMS__SIG_LDBL " fp=" GRIDEMS__SIG_FP           \
    " " GRIDEMS__SIG_ENDIAN " san=" GRIDEMS__SIG_SAN

/* Longest signature the host reads (bytes, NUL included). */
#define GRIDEMS_PLUGIN_SIGNATURE_MAX 256

/*
 * Emits the exported signature string into its ELF section. Internal to this header (and to the
 * ABI tests, which use it to fake a foreign signature): plugins use GRIDEMS_PLUGIN_DECLARE_VERSION.
 */
#ifdef __cplusplus
#define GRIDEMS__CXX_EXTERN extern /* a namespace-scope const is internal in C++ without it */
#else
#define GRIDEMS__CXX_EXTERN
#endif
#define GRIDEMS__PLUGIN_DECLARE_SIGNATURE(sig)                                                     \
    GRIDEMS__CXX_EXTERN GRIDEMS_PLUGIN_EXPORT                                                      \
        __attribute__((section(GRIDEMS_PLUGIN_SIGNATURE_SECTION), used))                           \
        const char gridems_plugin_signature[] = sig

/*
 * GRIDEMS_PLUGIN_DECLARE();
 * Put this once, at file scope, in one source file of the plugin, followed by a semicolon. It
 * defines gridems_plugin_version(), which accepts this header's major (GRIDEMS_PLUGIN_ABI_MAJOR)
 * when the host offers it, and the exported build signature of this compilation.
 *
 * GRIDEMS_PLUGIN_DECLARE_VERSION(v); is the ABI 1.0 spelling, kept for 1.0 sources: v must be this
 * header's major (a compile-time check), so the major is still stated only here.
 */
#define GRIDEMS_PLUGIN_DECLARE() GRIDEMS__PLUGIN_DECLARE_MAJOR(GRIDEMS_PLUGIN_ABI_MAJOR)
#ifdef __cplusplus
#define GRIDEMS__STATIC_ASSERT static_assert
#else
#define GRIDEMS__STATIC_ASSERT _Static_assert
#endif
#define GRIDEMS_PLUGIN_DECLARE_VERSION(v)                                                          \
    GRIDEMS__STATIC_ASSERT((v) == GRIDEMS_PLUGIN_ABI_MAJOR,                                        \
                           "GRIDEMS_PLUGIN_DECLARE_VERSION: not this header's ABI major");         \
    GRIDEMS_PLUGIN_DECLARE()

/* Internal to this header (and to the ABI tests, which fake a foreign major with it). */
#define GRIDEMS__PLUGIN_DECLARE_MAJOR(v)                                                           \
    GRIDEMS__PLUGIN_DECLARE_SIGNATURE(GRIDEMS_PLUGIN_SIGNATURE);                                   \
    GRIDEMS_PLUGIN_EXPORT int gridems_plugin_version(int n, const int *supported)                  \
    {                                                                                              \
        for (int gridems_i_ = 0; gridems_i_ < n; gridems_i_++) {                                   \
            if (supported[gridems_i_] == (v)) {                                                    \
                return (v);                                                                        \
            }                                                                                      \
        }                                                                                          \
        return -1;                                                                                 \
    }                                                                                              \
    extern int gridems_plugin_version(int n, const int *supported)

/* ---- ## Opaque handles and ids ---- */

/* The host's handle for one loaded plugin instance, passed to every host API call. Opaque. */
typedef struct gridems_plugin_s gridems_plugin_t;

/* The validated configuration of one instance (see below). */
typedef struct gridems_config_s gridems_config_t;

/* Ids the host hands out. 0 is never a valid id. Timer, fd-watch and work ids are meaningful only
 * to the instance that created them; device ids are unique within the host. An id is never handed
 * out twice while the first holder is alive (the counters skip ids in use when they wrap). */
typedef uint32_t gridems_device_id_t;
typedef uint32_t gridems_timer_id_t;
typedef uint32_t gridems_watch_id_t;
/* Added in 1.1: the id of a work item queued with submit_work(), meaningful to its instance. */
typedef uint32_t gridems_work_id_t;

/* Tests whether a struct that carries struct_size (as its first member) is large enough to hold
 * member: use it before writing a field added after 1.0 into a struct the host provides. */
#define GRIDEMS_STRUCT_HAS(ptr, type, member)                                                      \
    ((size_t)(ptr)->struct_size >= offsetof(type, member) + sizeof(((type *)0)->member))

/* ---- ## Options (the declarative config table) ---- */

/* Option types, and the C type the host stores at the option's offset in the context struct. */
enum {
    GRIDEMS_OPT_STRING = 1, /* const char *: NUL-terminated, owned by the host, valid until the
                               instance is unloaded; never free or modify it. JSON string. */
    GRIDEMS_OPT_INT = 2,    /* int64_t. JSON number without fraction, within int64_t. */
    GRIDEMS_OPT_DOUBLE = 3, /* double. Any finite JSON number. */
    GRIDEMS_OPT_BOOL = 4    /* int, 0 or 1. JSON true or false. */
};

/* Offset of an option that is validated and readable through the config getters but not stored
 * in the context struct. */
#define GRIDEMS_OPT_NO_OFFSET ((size_t)-1)

/*
 * One option of a plugin, in the style of Fluent Bit's config_map. A table is an array ended by
 * GRIDEMS_OPTION_END (key NULL). Static data, borrowed by the host until dlclose.
 *   type         GRIDEMS_OPT_*.
 *   key          the JSON key inside the instance's "options" object: 1 to 63 characters of
 *                [A-Za-z0-9_.-], unique within the table.
 *   def          the default as text, parsed like the JSON value would be ("100", "2.5",
 *                "true", any text for a string), or NULL for no default. An option that is
 *                neither given nor defaulted is left zero/NULL in the context struct.
 *   required     1: the instance config must give it (then def must be NULL); 0: optional.
 *   offset       offsetof() of the field in the context struct, GRIDEMS_OPT_NO_OFFSET, and
 *                suitably aligned for the type; the host refuses a table whose field would not
 *                fit inside context_size.
 *   description  one line for `gridems plugin-info` and the documentation.
 */
typedef struct gridems_option_s {
    int32_t type;
    const char *key;
    const char *def;
    int32_t required;
    size_t offset;
    const char *description;
} gridems_option_t;

/* clang-format off */
#define GRIDEMS_OPTION_END {0, NULL, NULL, 0, 0, NULL}
/* clang-format on */

/* ---- ## Plugin identity (the exported gridems_plugin_info) ---- */

/* Device classes. */
enum {
    GRIDEMS_DEV_BATTERY = 1,  /* stationary storage: charges and discharges on set-points */
    GRIDEMS_DEV_METER = 2,    /* a meter: reports power and energy, takes no set-points */
    GRIDEMS_DEV_FLEX_LOAD = 3 /* flexible compute: an AI-cluster scheduler with deferrable jobs */
};
#define GRIDEMS_CLASS_BIT(klass) (UINT32_C(1) << (klass))

/*
 * What the plugin is, exported as `const gridems_plugin_info_t gridems_plugin_info`. Static data,
 * read before init and by `gridems plugin-info`; borrowed by the host until dlclose.
 *   struct_size, abi_major, abi_minor, option_size: set them with GRIDEMS_PLUGIN_INFO_HEADER.
 *     option_size lets a newer header append fields to gridems_option_t: the host steps through
 *     the table by the plugin's option_size (any size from the ABI 1.0 one up) and reads the
 *     members it knows.
 *   name          "<class>_<name>" as in the file name gridems_<class>_<name>.so: 1 to 63
 *                 characters of [a-z0-9_]. It is the log prefix: [battery_sim:bess1].
 *   version       the plugin's own version text, or NULL.
 *   description   one line, or NULL.
 *   classes       GRIDEMS_CLASS_BIT() of every class of device it may register (at least one);
 *                 register_device refuses any other class.
 *   options       the option table, or NULL for none.
 *   context_size  bytes of the context struct the host allocates for the options (0 for none,
 *                 at most 1 MiB); the plugin reads it as cfg->context.
 *   reserved      dead bytes of the 1.0 layout (see Versioning): never read.
 * Added in 1.1:
 *   flex_job_size sizeof(gridems_flex_job_t) as the plugin was compiled, set by
 *                 GRIDEMS_PLUGIN_INFO_HEADER: the element size of every gridems_flex_caps_t.jobs
 *                 array whose own job_size is 0. 0 (a 1.0 plugin) = the ABI 1.0 element size.
 * The host accepts struct_size from the end of context_size (1.0 without reserved) upwards.
 */
typedef struct gridems_plugin_info_s {
    uint32_t struct_size;
    uint16_t abi_major;
    uint16_t abi_minor;
    uint32_t option_size;
    const char *name;
    const char *version;
    const char *description;
    uint32_t classes;
    const gridems_option_t *options;
    size_t context_size;
    void *reserved[4];
    uint32_t flex_job_size; /* 1.1 */
} gridems_plugin_info_t;

#define GRIDEMS_PLUGIN_INFO_HEADER                                                                 \
    .struct_size = sizeof(gridems_plugin_info_t), .abi_major = GRIDEMS_PLUGIN_ABI_MAJOR,           \
    .abi_minor = GRIDEMS_PLUGIN_ABI_MINOR, .option_size = sizeof(gridems_option_t),                \
    .flex_job_size = sizeof(gridems_flex_job_t)

/*
 * The validated configuration of one instance, handed to init. Owned by the host and valid until
 * the instance is unloaded (so the plugin may keep the pointer); never modify or free it.
 *   struct_size  sizeof the host's struct.
 *   plugin       the plugin's name (gridems_plugin_info.name).
 *   instance     the instance name from the config ("bess1"): unique within the service.
 *   context      context_size bytes holding every option at its offset (given value, else the
 *                default, else zero/NULL), or NULL when context_size is 0. The plugin may write
 *                to its non-string fields; the strings belong to the host.
 */
struct gridems_config_s {
    uint32_t struct_size;
    const char *plugin;
    const char *instance;
    void *context;
    void *reserved[4];
};

/* ---- ## Devices: capabilities, measurements, set-points, events ---- */

/*
 * Power sign convention, the same everywhere a device's power appears (measurements and
 * set-points): positive power flows from the device into the site's bus.
 *   battery    positive = discharging, negative = charging;
 *   meter      positive = importing from the grid (or producing, for a PV meter), see the role;
 *   flex load  power is consumption and is never negative.
 */

/* Meter roles. */
enum {
    GRIDEMS_METER_SITE = 1, /* the grid connection point: positive = import */
    GRIDEMS_METER_LOAD = 2, /* a load that is not flexible (base load): positive = consumption */
    GRIDEMS_METER_PV = 3,   /* on-site generation: positive = production */
    GRIDEMS_METER_OTHER = 4
};

/* A battery's limits and state. Energies in kWh, powers in kW, efficiencies in (0, 1]. */
typedef struct gridems_battery_caps_s {
    double capacity_kwh;         /* required, > 0 */
    double soc_kwh;              /* required: stored energy now, in [0, capacity_kwh] */
    double soc_min_kwh;          /* default 0 */
    double soc_max_kwh;          /* default capacity_kwh */
    double charge_max_kw;        /* required, >= 0 */
    double discharge_max_kw;     /* required, >= 0 */
    double charge_efficiency;    /* default 1 */
    double discharge_efficiency; /* default 1 */
    double cycle_cost_per_kwh;   /* degradation cost per kWh discharged, default 0 */
    double ramp_kw_per_s;        /* largest power change per second, 0 (default) = no limit */
} gridems_battery_caps_t;

typedef struct gridems_meter_caps_s {
    int32_t role; /* GRIDEMS_METER_*, default GRIDEMS_METER_SITE */
} gridems_meter_caps_t;

/*
 * One deferrable job of a flexible-compute device. Times are absolute, in milliseconds since the
 * Unix epoch on the host clock (now_ms()).
 */
typedef struct gridems_flex_job_s {
    const char *id;              /* unique among the device's jobs and across the site */
    double energy_remaining_kwh; /* still to deliver, >= 0 */
    double energy_delivered_kwh; /* delivered so far, >= 0 (survives restarts via the host) */
    double power_max_kw;         /* > 0 */
    int64_t earliest_ms;         /* may not run before */
    int64_t deadline_ms;         /* must be done by, > earliest_ms */
} gridems_flex_job_t;

typedef struct gridems_flex_caps_s {
    /* The jobs, borrowed: the array and its strings must stay valid until the next call into
     * this device (the host copies what it needs before that). NULL when n_jobs is 0. */
    const gridems_flex_job_t *jobs;
    uint32_t n_jobs;
    double power_cap_kw; /* total compute power cap of the device, < 0 (default) = none */
    /* 1.1: the element size of jobs, sizeof(gridems_flex_job_t) as the plugin was compiled; the
     * host zeroes it before the call, and 0 means gridems_plugin_info.flex_job_size (which
     * GRIDEMS_PLUGIN_INFO_HEADER sets; 0 in a 1.0 plugin = the 1.0 size). Any size from the 1.0
     * one up is accepted; the host reads the members it knows. */
    uint32_t job_size;
} gridems_flex_caps_t;

/*
 * The host's request to get_capabilities(). The host zeroes it, sets struct_size, klass and
 * every default listed above (and stale_after_ms 0), then calls the device, which overwrites
 * what it knows. The host validates the result (finite, in range) and rejects the whole answer
 * when a value is bad.
 *   stale_after_ms  a reading older than this leaves the device out of the plan and puts it in
 *                   safe mode; 0 = the host's default.
 *   measured_ms     host-clock time the state (soc_kwh, job progress) was read; 0 = now.
 * The class union is the last member so that every class's struct may grow by appending.
 */
typedef struct gridems_caps_s {
    uint32_t struct_size;
    int32_t klass;
    uint32_t stale_after_ms;
    int64_t measured_ms;
    void *reserved[2];
    union {
        gridems_battery_caps_t battery;
        gridems_meter_caps_t meter;
        gridems_flex_caps_t flex;
    } u;
} gridems_caps_t;

/* Which values of a measurement are present. */
enum {
    GRIDEMS_MEAS_POWER = 1u << 0, /* power_kw */
    GRIDEMS_MEAS_SOC = 1u << 1,   /* soc_kwh */
    GRIDEMS_MEAS_ENERGY = 1u << 2 /* energy_kwh */
};

/*
 * A reading, posted by the plugin with post_measurement() (copied).
 *   struct_size  sizeof(gridems_measurement_t) as the plugin was compiled.
 *   device       the id register_device() returned; must belong to the posting instance.
 *   timestamp_ms host-clock time of the reading; 0 = now. One stamped more than
 *                GRIDEMS_READING_MAX_AHEAD_MS ahead of now_ms() is implausible: the service
 *                logs it and ignores it (it would look fresh until its time came, hiding a
 *                device that went silent), and the device counts as silent until a good one.
 *   valid        GRIDEMS_MEAS_* bits of the values that are present; each must be finite.
 *   power_kw     see the sign convention above.
 *   soc_kwh      stored energy (battery).
 *   energy_kwh   a cumulative counter in the direction of positive power (meter register).
 */
/* How far ahead of the host clock a reading's timestamp_ms may be (a device clock a little
 * fast): one minute. Added in 1.1. */
#define GRIDEMS_READING_MAX_AHEAD_MS 60000

typedef struct gridems_measurement_s {
    uint32_t struct_size;
    gridems_device_id_t device;
    int64_t timestamp_ms;
    uint32_t valid;
    double power_kw;
    double soc_kwh;
    double energy_kwh;
    void *reserved[4];
} gridems_measurement_t;

/* Per-job power of a flexible-compute set-point. */
typedef struct gridems_job_setpoint_s {
    const char *job_id;
    double power_kw; /* >= 0 */
} gridems_job_setpoint_t;

/*
 * A set-point, handed to apply_setpoint() (borrowed for the call). apply_setpoint must be
 * idempotent: QoS 1 can redeliver, and the host repeats set-points; the same (plan_id,
 * timestamp_ms) means the same command.
 *   plan_id         the plan it comes from, increasing.
 *   timestamp_ms    host-clock start of the plan step it belongs to; for a correction within
 *                   the step (the service's peak guard), the instant it was decided, which is
 *                   later than the step's start and earlier than its end.
 *   valid_until_ms  end of that step: without a newer set-point by then, the device should
 *                   enter its safe mode on its own (a watchdog), 0 = no limit.
 *   safe_mode       1: ignore the values below and go to the safe state. Battery: hold, zero
 *                   power. Flex load: no gridems cap, the device's own policy. Meter: nothing.
 *   power_kw        battery: positive = discharge, negative = charge.
 *   jobs, n_jobs    flex load: power per job (borrowed; jobs not listed get 0). Step through
 *                   it with GRIDEMS_SETPOINT_JOB(sp, i), which uses job_size.
 *   power_cap_kw    flex load: total cap for the step, < 0 = none.
 *   reserved        dead bytes of the 1.0 layout.
 * Added in 1.1:
 *   job_size        the element size of jobs (the host's sizeof(gridems_job_setpoint_t)). The
 *                   first members of every element are the 1.0 ones, so a 1.0 plugin that steps
 *                   by its own sizeof reads them right as long as the element has not grown; a
 *                   host whose element grew builds 1.0-sized arrays for plugins older than that.
 */
typedef struct gridems_setpoint_s {
    uint32_t struct_size;
    int32_t safe_mode;
    uint64_t plan_id;
    int64_t timestamp_ms;
    int64_t valid_until_ms;
    double power_kw;
    const gridems_job_setpoint_t *jobs;
    uint32_t n_jobs;
    double power_cap_kw;
    void *reserved[4];
    uint32_t job_size; /* 1.1 */
} gridems_setpoint_t;

/* Element i of sp->jobs, stepping by sp->job_size when the host sets it (1.1) and by the 1.0
 * sizeof otherwise (GRIDEMS_SETPOINT_JOB_SIZE). A member of the element added after 1.0 is
 * there only when the element size covers it. */
#define GRIDEMS_SETPOINT_JOB_SIZE(sp)                                                              \
    (GRIDEMS_STRUCT_HAS(sp, gridems_setpoint_t, job_size) && (sp)->job_size != 0                   \
         ? (size_t)(sp)->job_size                                                                  \
         : sizeof(gridems_job_setpoint_t))
#define GRIDEMS_SETPOINT_JOB(sp, i)                                                                \
    ((const gridems_job_setpoint_t *)(const void *)((const char *)(sp)->jobs +                     \
                                                    (size_t)(i)*GRIDEMS_SETPOINT_JOB_SIZE(sp)))

/* Events delivered to on_event(). */
enum {
    /* The service re-read its configuration (SIGHUP): the site and planner settings may have
     * changed. Sent to the devices of every instance whose config entry ("plugin", "path" and
     * "options", compared as JSON) did not change. An instance whose entry changed is instead
     * unloaded (step 7 of the loading sequence: destroy(), cleanup) and loaded again with the
     * new entry (a fresh init, its devices announced anew); an instance removed from the config
     * is unloaded, a new one loaded; each is named in a warning ("reload: plugin instance
     * "bess1" changed (plugin, path or options); reloading it"). A changed plugin_dir takes
     * effect at the next restart. */
    GRIDEMS_EVT_RELOAD = 1,
    /* The service accepted a grid signal: a new import-price, export-price or carbon forecast
     * (GRIDEMS_SIGNAL_PRICE for both prices, GRIDEMS_SIGNAL_CARBON), a demand-response event
     * (GRIDEMS_SIGNAL_DR_EVENT, also when it replaces a held one) or the cancellation of a held
     * one (GRIDEMS_SIGNAL_DR_CANCEL; a cancel for an event the service did not hold is not
     * sent). Sent to every device once the message is applied, before the re-plan it causes;
     * a rejected message sends nothing. Informational: the set-points still come from plans. */
    GRIDEMS_EVT_GRID_SIGNAL = 2,
    /* The service began its clean shutdown (SIGTERM/SIGINT, or a failed start-up): sent to
     * every device once, right after the safe-mode set-point and before the instance is
     * unloaded; the device should reach its safe state now; destroy() follows. Not sent when
     * the process is killed. */
    GRIDEMS_EVT_SHUTDOWN = 3
};

/* Grid signal kinds. */
enum {
    GRIDEMS_SIGNAL_PRICE = 1,
    GRIDEMS_SIGNAL_CARBON = 2,
    GRIDEMS_SIGNAL_DR_EVENT = 3, /* value = import limit, kW */
    GRIDEMS_SIGNAL_DR_CANCEL = 4
};

/*
 * An event (borrowed for the call, strings included).
 *   type              GRIDEMS_EVT_*.
 *   time_ms           host-clock time it was raised.
 *   signal            GRID_SIGNAL only: GRIDEMS_SIGNAL_*.
 *   id                GRID_SIGNAL only: the DR event id (DR_EVENT, DR_CANCEL), else NULL.
 *   start_ms, end_ms  GRID_SIGNAL only, host clock: the period the message covers (a forecast:
 *                     the start of its first interval to the end of its last; a DR event, or
 *                     the held event a cancel ends: the event's start and end).
 *   value             GRID_SIGNAL only: the first interval's value of a forecast (price per
 *                     kWh in the site currency, or g CO2/kWh), a DR event's import limit in kW,
 *                     0 for a cancel.
 * Other fields are 0/NULL.
 */
typedef struct gridems_device_event_s {
    uint32_t struct_size;
    int32_t type;
    int64_t time_ms;
    int32_t signal;
    const char *id;
    int64_t start_ms;
    int64_t end_ms;
    double value;
    void *reserved[4];
} gridems_device_event_t;

/*
 * The device callbacks. All run on the loop thread within the 5 ms budget; `dev` is the id
 * register_device() gave and `userdata` the dev_userdata passed to it (borrowed: it stays the
 * plugin's until destroy). Each returns 0 or a negative GRIDEMS_E* code, which the host logs
 * (rate-limited) and counts; a device whose read keeps failing is polled less often.
 *   read              periodic telemetry: read (or start reading, through queue_work) and post
 *                     the result with post_measurement(). Optional, for push-only devices.
 *   get_capabilities  fill *out (see gridems_caps_t); out is borrowed. Return GRIDEMS_EAGAIN
 *                     while the device has not reported yet: the host then leaves it out
 *                     quietly instead of logging a failure.
 *   apply_setpoint    act on *sp (borrowed, see gridems_setpoint_t); idempotent. Optional for
 *                     meters.
 *   on_event          react to *ev (borrowed). Optional.
 *   destroy           the last call for the device and the only place the host lets go of
 *                     userdata: release it. Optional when userdata needs no release.
 */
typedef int (*gridems_device_read_fn)(gridems_device_id_t dev, void *userdata);
typedef int (*gridems_device_caps_fn)(gridems_device_id_t dev, void *userdata, gridems_caps_t *out);
typedef int (*gridems_device_setpoint_fn)(gridems_device_id_t dev, void *userdata,
                                          const gridems_setpoint_t *sp);
typedef int (*gridems_device_event_fn)(gridems_device_id_t dev, void *userdata,
                                       const gridems_device_event_t *ev);
typedef void (*gridems_device_destroy_fn)(gridems_device_id_t dev, void *userdata);

/*
 * A device descriptor, passed to register_device() (copied: the host copies the struct and the
 * name and instance strings; the options table is borrowed until dlclose).
 *   struct_size       sizeof(gridems_device_desc_t) as the plugin was compiled. The host copies
 *                     only min(struct_size, its own sizeof) bytes: the fields beyond are NULL/0.
 *   name              1 to 63 characters of [A-Za-z0-9_.-], unique within the service. The
 *                     device's id in plans, schedules, state files and logs is the instance
 *                     name (config "name") when name equals it, else "<instance>.<name>"; the
 *                     rule depends on nothing else (not on how many devices the instance has).
 *                     A one-device plugin names its device cfg->instance, so that its id is the
 *                     instance name the operator chose.
 *   instance          optional free-form sub-identifier (a serial number, a Modbus unit id).
 *   klass             GRIDEMS_DEV_*; must be one of the classes in gridems_plugin_info.
 *   options           documentation only in ABI 1.0 (the device's subset of the plugin's table,
 *                     or NULL): options are validated per instance against
 *                     gridems_plugin_info.options before init, when no device exists yet.
 *   read_interval_ms  how often the host calls read(), in host-clock ms (simulated and stepped
 *                     clocks included); 0 = the host's control tick (60 s). The host reads at
 *                     least every control tick: a longer interval is read on the tick. On a
 *                     fast simulated clock a device is read at most every 100 ms of real time.
 *                     The first read() comes right after the device is announced (once init
 *                     succeeded, or on the next loop turn when registered later); a failing
 *                     read() backs off.
 *   callbacks         see above; get_capabilities is required, the others optional.
 */
typedef struct gridems_device_desc_s {
    uint32_t struct_size;
    const char *name;
    const char *instance;
    int32_t klass;
    const gridems_option_t *options;
    uint32_t read_interval_ms;
    gridems_device_read_fn read;
    gridems_device_caps_fn get_capabilities;
    gridems_device_setpoint_fn apply_setpoint;
    gridems_device_event_fn on_event;
    gridems_device_destroy_fn destroy;
    void *reserved[4];
} gridems_device_desc_t;

/* ---- ## The host API table ---- */

/* Log levels (syslog's numbers). */
enum {
    GRIDEMS_PLUGIN_LOG_ERR = 3,
    GRIDEMS_PLUGIN_LOG_WARNING = 4,
    GRIDEMS_PLUGIN_LOG_NOTICE = 5,
    GRIDEMS_PLUGIN_LOG_INFO = 6,
    GRIDEMS_PLUGIN_LOG_DEBUG = 7
};

/* watch_fd() event bits. */
enum { GRIDEMS_FD_READABLE = 1, GRIDEMS_FD_WRITABLE = 2 };

/*
 * A message on a subscribed topic (borrowed for the callback, strings and payload included).
 * payload is followed by a NUL byte that len does not count, so text can be parsed in place.
 * QoS 1 may redeliver: handlers must tolerate duplicates.
 */
typedef struct gridems_message_s {
    uint32_t struct_size;
    const char *topic;
    const void *payload;
    size_t len;
    int32_t qos;
    int32_t retained;
    void *reserved[2];
} gridems_message_t;

/* Callback types. `self` is the instance, `arg` what the plugin passed when registering. */
typedef void (*gridems_timer_fn)(gridems_plugin_t *self, gridems_timer_id_t id, void *arg);
/* status: 0, or a negative GRIDEMS_E* code when polling the fd failed (events is then 0). */
typedef void (*gridems_fd_fn)(gridems_plugin_t *self, int fd, int status, int events, void *arg);
/* Runs on a pool thread: may block; may call only log()/vlog()/strerror(). */
typedef void (*gridems_work_fn)(gridems_plugin_t *self, void *arg);
/* Runs on the loop thread after work_fn returned, or instead of it: status 0, or
 * GRIDEMS_ECANCELED when the instance is being unloaded (work_fn then may or may not have run).
 * Either way it runs before the devices are destroyed, so arg and the device state are still
 * valid; when unloading, it should only release arg. */
typedef void (*gridems_done_fn)(gridems_plugin_t *self, int status, void *arg);
typedef void (*gridems_message_fn)(gridems_plugin_t *self, const gridems_message_t *msg, void *arg);

/*
 * The functions the host offers, handed to init (borrowed; valid until the instance is unloaded,
 * so the plugin may keep the pointer). Loop thread only, except log, vlog and strerror. Entries
 * are only ever appended: before calling one added after 1.0, check GRIDEMS_API_HAS(api, entry).
 * Every entry that takes `self` (or `cfg`) checks it against the host's live instances, by
 * address, without reading through it: a pointer that is none (NULL, made up, or an unloaded
 * instance's whose memory no new instance took) gets GRIDEMS_EINVAL, never a crash (log and vlog
 * print the line without an instance prefix; now_ms answers the real-time clock). This holds for
 * 1.0 plugins too.
 */
typedef struct gridems_host_api_s {
    uint32_t struct_size;
    uint16_t abi_major;
    uint16_t abi_minor;

    /*
     * log / vlog: write one log line, prefixed "[<plugin>:<instance>]", at level
     * GRIDEMS_PLUGIN_LOG_*. fmt and its arguments are borrowed. Lines beyond a per-instance rate
     * (100 a second) are dropped and counted. Thread: any.
     */
    void (*log)(gridems_plugin_t *self, int level, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
    void (*vlog)(gridems_plugin_t *self, int level, const char *fmt, va_list ap)
        __attribute__((format(printf, 3, 0)));

    /*
     * config_get_*: the value of option `key` of this instance (the given value, else the
     * default). cfg and key are borrowed; *out is written on success only. A string is owned by
     * the host and valid until unload. get_double also reads an INT option.
     * Returns: 0; GRIDEMS_EINVAL when the table has no such key or its type differs;
     * GRIDEMS_ENOENT when the option has neither a value nor a default.
     */
    int (*config_get_string)(const gridems_config_t *cfg, const char *key, const char **out);
    int (*config_get_int)(const gridems_config_t *cfg, const char *key, int64_t *out);
    int (*config_get_double)(const gridems_config_t *cfg, const char *key, double *out);
    int (*config_get_bool)(const gridems_config_t *cfg, const char *key, int *out);

    /*
     * timer_start: call fn(self, id, arg) after first_ms, then every repeat_ms if repeat_ms > 0.
     * The delays are in real milliseconds of the loop (timer_start_clock, 1.1, counts host-clock
     * milliseconds instead); when the host clock is simulated, measure elapsed time with now_ms()
     * differences, never by counting ticks. A one-shot timer is gone
     * once it has fired (timer_stop then returns GRIDEMS_ENOENT). arg is borrowed by the host
     * until the timer is stopped; *id (borrowed) receives the id.
     * Returns: 0; GRIDEMS_EINVAL (fn or id NULL); GRIDEMS_ENOMEM; GRIDEMS_ESTATE while the
     * instance is unloading. On error fn is never called.
     */
    int (*timer_start)(gridems_plugin_t *self, uint64_t first_ms, uint64_t repeat_ms,
                       gridems_timer_fn fn, void *arg, gridems_timer_id_t *id);
    /* timer_stop: stop a timer, also from its own callback; fn is never called again.
     * Returns: 0; GRIDEMS_ENOENT when the instance has no such timer. */
    int (*timer_stop)(gridems_plugin_t *self, gridems_timer_id_t id);

    /*
     * watch_fd: call fn(self, fd, status, events, arg) whenever fd (a socket or pipe the plugin
     * owns and keeps open) becomes ready for one of `events` (GRIDEMS_FD_*). One watch per fd;
     * call unwatch_fd before closing fd. *id (borrowed) receives the id.
     * Returns: 0; GRIDEMS_EINVAL; GRIDEMS_EEXIST when fd is already watched; GRIDEMS_ENOMEM;
     * GRIDEMS_ESTATE while unloading; another -errno when the fd cannot be polled (regular
     * files cannot). On error fn is never called.
     */
    int (*watch_fd)(gridems_plugin_t *self, int fd, int events, gridems_fd_fn fn, void *arg,
                    gridems_watch_id_t *id);
    /* unwatch_fd: stop watching at once (fn is never called again; fd may be closed right
     * after). Returns: 0; GRIDEMS_ENOENT. */
    int (*unwatch_fd)(gridems_plugin_t *self, gridems_watch_id_t id);

    /*
     * queue_work: run work_fn(self, arg) on a pool thread, then done_fn(self, status, arg) on the
     * loop thread. done_fn (required) is called exactly once for every accepted job, also at
     * unload. arg is transferred on success only: done_fn is where it is released.
     * Returns: 0; GRIDEMS_EINVAL; GRIDEMS_ENOMEM; GRIDEMS_ESTATE while unloading. On error
     * neither function is called.
     */
    int (*queue_work)(gridems_plugin_t *self, gridems_work_fn work_fn, gridems_done_fn done_fn,
                      void *arg);

    /*
     * publish: publish len bytes of payload on topic (no wildcards) through the service's MQTT
     * connection. topic and payload are copied. qos 0..2; retain 0 or 1.
     * Returns: 0 when the service accepted it for sending; GRIDEMS_EINVAL; GRIDEMS_EMQTT when
     * it could not (e.g. disconnected: nothing is buffered); GRIDEMS_ESTATE without MQTT.
     */
    int (*publish)(gridems_plugin_t *self, const char *topic, const void *payload, size_t len,
                   int qos, int retain);

    /*
     * subscribe: call fn(self, msg, arg) for every MQTT message whose topic matches
     * topic_filter ('+' one level, '#' the rest; QoS 1). The host keeps the subscription across
     * reconnects. topic_filter is copied; arg is borrowed until unsubscribe or unload.
     * Subscribing twice with the same (filter, fn, arg) is GRIDEMS_EEXIST.
     * Returns: 0; GRIDEMS_EINVAL (bad filter); GRIDEMS_EEXIST; GRIDEMS_ENOMEM; GRIDEMS_ESTATE;
     * the service's error. On error fn is never called.
     */
    int (*subscribe)(gridems_plugin_t *self, const char *topic_filter, gridems_message_fn fn,
                     void *arg);
    /* unsubscribe: drop the subscription (filter, fn, arg); fn is not called again, even for a
     * message being delivered right now. Returns: 0; GRIDEMS_ENOENT. */
    int (*unsubscribe)(gridems_plugin_t *self, const char *topic_filter, gridems_message_fn fn,
                       void *arg);

    /*
     * post_measurement: hand a reading of one of this instance's devices to the service. m is
     * copied. Returns: 0; GRIDEMS_EINVAL (unknown device, struct too small, a value flagged
     * valid but not finite); GRIDEMS_ESTATE during init (the devices are announced to the
     * service only once init succeeded) or while unloading.
     */
    int (*post_measurement)(gridems_plugin_t *self, const gridems_measurement_t *m);

    /*
     * register_device: declare a device. desc is copied (see gridems_device_desc_t);
     * dev_userdata is transferred on success only: the host hands it back to every callback
     * and to destroy(), the only place it is released. *id (borrowed) receives the device id.
     * Call it from init or later. The host never calls into the plugin from inside this call:
     * the service learns of the device once init returned, or, for a device registered later,
     * on the next turn of the loop (its first read() follows then).
     * Returns: 0; GRIDEMS_EINVAL (bad descriptor, class not declared in gridems_plugin_info,
     * get_capabilities missing); GRIDEMS_EEXIST (name taken); GRIDEMS_ENOMEM; GRIDEMS_ESTATE.
     */
    int (*register_device)(gridems_plugin_t *self, const gridems_device_desc_t *desc,
                           void *dev_userdata, gridems_device_id_t *id);

    /*
     * now_ms: the host clock, in milliseconds since the Unix epoch. It may be simulated and
     * run faster than real time; all absolute times in this ABI use it.
     */
    int64_t (*now_ms)(gridems_plugin_t *self);

    /* ---- Added in 1.1: check GRIDEMS_API_HAS(api, <entry>) before calling each ---- */

    /*
     * strerror: a human sentence for a GRIDEMS_E* code ("unknown error" for codes outside the
     * map in gridems/errors.h). Returns: a static string owned by the host, never NULL; valid
     * until the instance is unloaded. Thread: any (like log, it may be called from a work_fn).
     */
    const char *(*strerror)(int err);

    /*
     * init_error: say why init is about to fail, in words for the operator. The loader prints
     * it in its refusal ("plugin bess1 (battery_acme): init failed: capacity_kwh must be > 0, got
     * -5 (ECONFIG)"); without it, only the code is printed. Call it from init, before returning
     * the negative code; the last call wins; the text is copied (at most 255 bytes are kept).
     * Calling it after init only logs the text at ERR. Returns: 0; GRIDEMS_EINVAL (self not a
     * live instance, fmt NULL).
     */
    int (*init_error)(gridems_plugin_t *self, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

    /*
     * unregister_device: take away a device this instance registered (hot-unplug, a gateway
     * that lost a unit). At once: the service stops using it and no callback of it is called
     * again; destroy(dev, userdata) follows from the loop, after the current callback returned
     * (never inside this call). Returns: 0; GRIDEMS_EINVAL (self not a live instance);
     * GRIDEMS_ENOENT (not a device of this instance, or already unregistered).
     */
    int (*unregister_device)(gridems_plugin_t *self, gridems_device_id_t id);

    /*
     * submit_work: queue_work() that also hands back an id (borrowed out-parameter, may be NULL)
     * for cancel_work(). Same contract as queue_work.
     * cancel_work: cancel work that has not started: its done_fn then runs from the loop with
     *   GRIDEMS_ECANCELED (never inside this call) and work_fn never runs. Returns: 0 (cancelled);
     *   GRIDEMS_EAGAIN when work_fn is already running or done (done_fn still comes, with its
     *   real status: running work cannot be stopped); GRIDEMS_ENOENT when the id is not a
     *   pending work item of this instance; GRIDEMS_EINVAL (self not a live instance).
     */
    int (*submit_work)(gridems_plugin_t *self, gridems_work_fn work_fn, gridems_done_fn done_fn,
                       void *arg, gridems_work_id_t *id);
    int (*cancel_work)(gridems_plugin_t *self, gridems_work_id_t id);

    /*
     * timer_start_clock: timer_start() in host-clock milliseconds (now_ms()'s clock): on a
     * simulated clock running 60 times real time, repeat_ms 900000 fires every 15 minutes of
     * site time, i.e. every 15 real seconds; on a backtest's stepped clock it fires at exactly
     * those host-clock instants. Stopped with timer_stop. Same returns as timer_start.
     */
    int (*timer_start_clock)(gridems_plugin_t *self, uint64_t first_ms, uint64_t repeat_ms,
                             gridems_timer_fn fn, void *arg, gridems_timer_id_t *id);

    /*
     * option_string / option_int / option_double / option_bool: the config_get_* getters keyed
     * by the instance handle instead of the config pointer. Same returns, plus GRIDEMS_EINVAL
     * when self is not a live instance. (config_get_* stay; the host checks their cfg pointer
     * against its instances too.)
     */
    int (*option_string)(gridems_plugin_t *self, const char *key, const char **out);
    int (*option_int)(gridems_plugin_t *self, const char *key, int64_t *out);
    int (*option_double)(gridems_plugin_t *self, const char *key, double *out);
    int (*option_bool)(gridems_plugin_t *self, const char *key, int *out);
} gridems_host_api_t;

/* Tests whether the host's table has entry fn; use before calling an entry added after 1.0. */
#define GRIDEMS_API_HAS(api, fn)                                                                   \
    ((size_t)(api)->struct_size >= offsetof(gridems_host_api_t, fn) + sizeof((api)->fn))

/* ---- ## Entry points ---- */

/*
 * gridems_plugin_version: version negotiation, the first function the host calls.
 * Parameters: n, the number of entries in supported; supported (borrowed), the ABI majors the
 *   host implements, newest first.
 * Returns: the major the plugin implements (one of supported), or -1 to refuse the host.
 * Thread: loop. Define it with GRIDEMS_PLUGIN_DECLARE_VERSION.
 */
GRIDEMS_PLUGIN_EXPORT int gridems_plugin_version(int n, const int *supported);

/* The build signature (GRIDEMS_PLUGIN_SIGNATURE), defined by GRIDEMS_PLUGIN_DECLARE_VERSION. */
GRIDEMS_PLUGIN_EXPORT extern const char gridems_plugin_signature[];

/* The plugin's identity and option table, defined by the plugin (see gridems_plugin_info_t). */
GRIDEMS_PLUGIN_EXPORT extern const gridems_plugin_info_t gridems_plugin_info;

/*
 * gridems_plugin_init: start one instance: read the options, register the devices, start
 * timers and subscriptions.
 * Parameters:
 *   self      (borrowed) the instance's handle for every host call; valid until unload.
 *   api       (borrowed) the host API table; valid until unload.
 *   cfg       (borrowed) the validated options; valid until unload.
 *   userdata  (borrowed) out: instance-wide state for gridems_plugin_cleanup, or leave NULL.
 * Returns: 0, or a negative GRIDEMS_E* code to refuse the instance (say why with
 *   api->init_error, 1.1, and the loader prints it). On failure the host still
 *   calls destroy() for every device already registered and gridems_plugin_cleanup(), then
 *   releases whatever the instance registered: init need only free what it did not hand over.
 * Thread: loop.
 */
GRIDEMS_PLUGIN_EXPORT int gridems_plugin_init(gridems_plugin_t *self, const gridems_host_api_t *api,
                                              const gridems_config_t *cfg, void **userdata);

/*
 * gridems_plugin_cleanup: optional. Release the instance-wide state init stored in *userdata.
 * Called once per instance, after every device's destroy() and before the host releases the
 * instance's timers, watches and subscriptions (stopping them here is allowed, not needed).
 * Parameters: self (borrowed); userdata (transferred: the plugin frees it).
 * Thread: loop.
 */
GRIDEMS_PLUGIN_EXPORT void gridems_plugin_cleanup(gridems_plugin_t *self, void *userdata);

#ifdef __cplusplus
}
#endif

#endif
