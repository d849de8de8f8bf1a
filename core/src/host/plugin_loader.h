/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The plugin loader: finds, checks, opens, configures and starts device plugins
 * (gridems/plugin.h), and unloads them.
 *
 * Checks, in order, each a clear one-line error and a negative GRIDEMS_E* code (the caller keeps
 * running):
 *   1. the build signature, read from the file's ELF section before any plugin code runs
 *      ("plugin P is not binary compatible (signature "..." != host "...")");
 *   2. dlopen(RTLD_NOW | RTLD_LOCAL) and the required symbols ("plugin P does not export X");
 *   3. ABI version negotiation (the majors of the host's adapters, host_abi.h: {1});
 *   4. gridems_plugin_info and its option table (a plugin with a broken table is refused);
 *   5. the instance's options against the table ("plugin bess1 (battery_sim): option
 *      "capacity_kwh": expected a number, got string"; unknown keys and missing required keys
 *      too) -- all before init is called;
 *   6. init itself ("plugin bess1 (battery_sim): init failed: <what the plugin said through
 *      init_error, else the code's sentence> (ECODE)").
 *
 * Instance config, as found in the service config's "plugins" array (a cJSON object, borrowed;
 * nothing of it is kept):
 *   { "plugin": "battery_sim",   the plugin: <plugin_dir>/gridems_<plugin>.so ([a-z0-9_]+)
 *     "name": "bess1",           the instance name, unique, 1..63 chars of [A-Za-z0-9_.-]
 *     "path": "/opt/x.so",       optional: an explicit shared object instead of "plugin"
 *                                (relative to the working directory, never searched for)
 *     "options": { ... } }       optional: validated against the plugin's option table
 * Other members are the service's business and are ignored here.
 *
 * Thread: loop thread only.
 */
#ifndef GRIDEMS_PLUGIN_LOADER_H
#define GRIDEMS_PLUGIN_LOADER_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "gridems/plugin.h"
#include "host_abi.h"
#include "host_api.h"

/* What gridems__plugin_open() found in a shared object. Nothing here runs plugin code. */
typedef struct gridems__plugin_lib_s {
    void *dl;   /* dlopen handle */
    char *path; /* owned */
    char signature[GRIDEMS_PLUGIN_SIGNATURE_MAX];
    int abi_major;              /* the negotiated major */
    const gridems__abi_t *abi;  /* its adapter */
    gridems_plugin_info_t info; /* host-size copy; strings are the plugin's */
    gridems_option_t *options;  /* [n_options] host-size copies, owned */
    size_t n_options;
    int (*init_fn)(gridems_plugin_t *self, const gridems_host_api_t *api,
                   const gridems_config_t *cfg, void **userdata);
    void (*cleanup_fn)(gridems_plugin_t *self, void *userdata); /* NULL when not exported */
} gridems__plugin_lib_t;

/* The host's build signature (GRIDEMS_PLUGIN_SIGNATURE as the host was compiled). */
const char *gridems__host_signature(void);

/* "string", "int", "double", "bool", or "?" for an unknown GRIDEMS_OPT_* type. */
const char *gridems__option_type_name(int type);

/*
 * gridems__plugin_read_signature: read the build signature of a plugin file from its
 * ".gridems.signature" ELF section, without loading it.
 * Parameters: path (borrowed); sig (borrowed buffer of siglen bytes, receives the string);
 *   err/errlen (borrowed buffer, may be NULL: the reason on failure).
 * Returns: 0; GRIDEMS_ENOENT (cannot open); GRIDEMS_EABI (not a shared object of this
 *   machine's ELF class and byte order, or no signature section).
 */
int gridems__plugin_read_signature(const char *path, char *sig, size_t siglen, char *err,
                                   size_t errlen);

/*
 * gridems__plugin_open: run checks 1 to 4 on a shared object and keep it open. Does not call
 * init (`gridems plugin-info` uses this alone). Logs nothing: the reason goes to err.
 * Parameters: path (copied; a path without '/' is taken relative to the working directory);
 *   lib (borrowed, filled on success, zeroed on failure); err/errlen (may be NULL).
 * Returns: 0; GRIDEMS_ENOENT; GRIDEMS_EABI (refused); GRIDEMS_EPLUGIN (dlopen failed);
 *   GRIDEMS_ENOMEM.
 */
int gridems__plugin_open(const char *path, gridems__plugin_lib_t *lib, char *err, size_t errlen);

/* gridems__plugin_lib_close: dlclose and free what gridems__plugin_open() filled. Safe on a
 * zeroed lib. Never call it on a lib an instance took over. */
void gridems__plugin_lib_close(gridems__plugin_lib_t *lib);

/*
 * gridems__plugin_load: load one instance described by `instance` (see above) into host:
 * resolve, open and check the plugin, validate and store the options, call init, announce the
 * devices to the service.
 * Parameters: host (borrowed); instance (borrowed, not kept); plugin_dir (borrowed; NULL = the
 *   build's default plugin directory); out (borrowed, receives the instance on success);
 *   err/errlen (borrowed buffer, may be NULL): the error line on failure.
 * Returns: 0; GRIDEMS_ECONFIG (bad instance config or options); GRIDEMS_ENOENT (no such plugin
 *   file); GRIDEMS_EABI (refused plugin); GRIDEMS_EPLUGIN (dlopen or init failed);
 *   GRIDEMS_ENOMEM. Every failure is also logged at ERR. When init fails, what it registered is
 *   released from the loop later (the host keeps it until then: run the loop before
 *   uv_loop_close).
 */
int gridems__plugin_load(gridems__host_t *host, const cJSON *instance, const char *plugin_dir,
                         gridems_plugin_t **out, char *err, size_t errlen);

/*
 * gridems__plugin_check: run every check of gridems__plugin_load() that needs no host -- resolve
 * the instance, read the build signature, dlopen, negotiate the ABI version, validate
 * gridems_plugin_info, its option table and the instance's options -- then close the plugin.
 * Never calls init (`gridems run --check` uses it). Logs nothing. Checks an option's type and
 * presence, not the plugin's own range rules, which only its init knows.
 * Parameters: instance (borrowed); plugin_dir (borrowed; NULL = the default plugin directory);
 *   key/keylen (borrowed buffer, may be NULL): on failure the instance member at fault, relative
 *   to the instance object ("plugin", "path", "options", "options.capacity_kwh"), or "" when the
 *   instance object itself is; err/errlen (may be NULL): the reason on failure.
 * Returns: 0; GRIDEMS_ECONFIG; GRIDEMS_ENOENT; GRIDEMS_EABI; GRIDEMS_EPLUGIN; GRIDEMS_ENOMEM.
 */
int gridems__plugin_check(const cJSON *instance, const char *plugin_dir, char *key, size_t keylen,
                          char *err, size_t errlen);

/*
 * gridems__plugin_unload: unload an instance: devices' destroy(), gridems_plugin_cleanup(),
 * then every timer, watch, subscription and work item released, then dlclose and free. The
 * teardown runs from the loop (never inside this call); cb(arg) runs once the instance is gone
 * and inst must not be used after this call.
 * Parameters: inst (borrowed; freed later by the host); cb (may be NULL); arg.
 * Returns: 0, or GRIDEMS_ESTATE when the instance is already unloading (cb is not called).
 */
int gridems__plugin_unload(gridems_plugin_t *inst, gridems__done_cb cb, void *arg);

#endif
