/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * `gridems plugin-info PATH|NAME`: check a device plugin the way the service would (signature,
 * ABI version, identity, option table) without starting it, and print what it is and which
 * options it takes. init is never called: the option table is static data of the plugin
 * (gridems_plugin_info), so nothing needs to run to document it.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "gridems/errors.h"
#include "gridems/plugin.h"
#include "plugin_dir.h"
#include "plugin_loader.h"

static void usage(FILE *out)
{
    fputs("usage: gridems plugin-info [options] PLUGIN\n"
          "\n"
          "Check a device plugin as the service would (build signature, plugin ABI version,\n"
          "identity and option table) without starting it, and print its identity and the\n"
          "options an instance of it takes. PLUGIN is a path to a shared object (anything\n"
          "with a '/' or ending in .so), or a plugin name such as battery_sim, looked up as\n"
          "DIR/gridems_<name>.so.\n"
          "\n"
          "options:\n"
          "      --plugin-dir DIR   where plugin names are looked up (default: the build's)\n"
          "  -h, --help             this text\n"
          "\n"
          "exit codes: 0 the plugin would be accepted, 2 refused (reason on stderr) or bad usage,\n"
          "1 other failure\n",
          out);
}

static const char *class_name(int klass)
{
    switch (klass) {
    case GRIDEMS_DEV_BATTERY:
        return "battery";
    case GRIDEMS_DEV_METER:
        return "meter";
    case GRIDEMS_DEV_FLEX_LOAD:
        return "flex_load";
    default:
        return "?";
    }
}

static void print_options(const gridems__plugin_lib_t *lib)
{
    if (lib->n_options == 0) {
        puts("options:     none");
        return;
    }
    int wkey = (int)strlen("KEY");
    int wdef = (int)strlen("DEFAULT");
    for (size_t i = 0; i < lib->n_options; i++) {
        const gridems_option_t *o = &lib->options[i];
        int k = (int)strlen(o->key);
        int d = o->def != NULL ? (int)strlen(o->def) + 2 : 1;
        wkey = k > wkey ? k : wkey;
        wdef = d > wdef ? d : wdef;
    }
    printf("options:     %zu\n", lib->n_options);
    printf("  %-*s  %-6s  %-8s  %-*s  %s\n", wkey, "KEY", "TYPE", "REQUIRED", wdef, "DEFAULT",
           "DESCRIPTION");
    for (size_t i = 0; i < lib->n_options; i++) {
        const gridems_option_t *o = &lib->options[i];
        char def[1024];
        if (o->def == NULL) {
            snprintf(def, sizeof def, "-");
        } else if (o->type == GRIDEMS_OPT_STRING) {
            snprintf(def, sizeof def, "\"%s\"", o->def);
        } else {
            snprintf(def, sizeof def, "%s", o->def);
        }
        printf("  %-*s  %-6s  %-8s  %-*s  %s\n", wkey, o->key, gridems__option_type_name(o->type),
               o->required ? "yes" : "no", wdef, def, o->description != NULL ? o->description : "");
    }
}

static void print_lib(const gridems__plugin_lib_t *lib)
{
    const gridems_plugin_info_t *info = &lib->info;
    printf("plugin:      %s\n", info->name);
    printf("version:     %s\n", info->version != NULL ? info->version : "(none)");
    if (info->description != NULL) {
        printf("description: %s\n", info->description);
    }
    printf("file:        %s\n", lib->path);
    printf("abi:         %d (plugin header %u.%u, host %d.%d)\n", lib->abi_major,
           (unsigned)info->abi_major, (unsigned)info->abi_minor, GRIDEMS_PLUGIN_ABI_MAJOR,
           GRIDEMS_PLUGIN_ABI_MINOR);
    printf("signature:   %s\n", lib->signature);
    printf("classes:    ");
    for (int k = GRIDEMS_DEV_BATTERY; k <= GRIDEMS_DEV_FLEX_LOAD; k++) {
        if (info->classes & GRIDEMS_CLASS_BIT(k)) {
            printf(" %s", class_name(k));
        }
    }
    putchar('\n');
    printf("cleanup:     %s\n", lib->cleanup_fn != NULL ? "exported" : "not exported");
    print_options(lib);
}

int gridems__cmd_plugin_info(int argc, char **argv)
{
    enum { OPT_PLUGIN_DIR = 1000 };
    static const struct option longopts[] = {
        {"plugin-dir", required_argument, NULL, OPT_PLUGIN_DIR},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *plugin_dir = gridems__default_plugin_dir();
    optind = 0; /* 0, not 1: makes glibc's getopt_long reset fully if called more than once */
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_PLUGIN_DIR:
            plugin_dir = optarg;
            break;
        case 'h':
            usage(stdout);
            return GRIDEMS_EXIT_OK;
        default:
            usage(stderr);
            return GRIDEMS_EXIT_USAGE;
        }
    }
    if (argc - optind != 1) {
        usage(stderr);
        return GRIDEMS_EXIT_USAGE;
    }
    const char *arg = argv[optind];
    size_t alen = strlen(arg);
    bool is_path = strchr(arg, '/') != NULL || (alen > 3 && strcmp(arg + alen - 3, ".so") == 0);
    char *path = NULL;
    if (is_path) {
        path = strdup(arg);
    } else {
        size_t len = strlen(plugin_dir) + alen + sizeof "/gridems_.so";
        path = malloc(len);
        if (path != NULL) {
            snprintf(path, len, "%s/gridems_%s.so", plugin_dir, arg);
        }
    }
    if (path == NULL) {
        fputs("gridems plugin-info: out of memory\n", stderr);
        return GRIDEMS_EXIT_FAILURE;
    }
    gridems__plugin_lib_t lib;
    char err[1024];
    err[0] = '\0';
    int rc = gridems__plugin_open(path, &lib, err, sizeof err);
    free(path);
    if (rc < 0) {
        fprintf(stderr, "gridems plugin-info: %s\n", err[0] != '\0' ? err : gridems_strerror(rc));
        return rc == GRIDEMS_ENOMEM ? GRIDEMS_EXIT_FAILURE : GRIDEMS_EXIT_USAGE;
    }
    print_lib(&lib);
    fflush(stdout);
    gridems__plugin_lib_close(&lib);
    return GRIDEMS_EXIT_OK;
}
