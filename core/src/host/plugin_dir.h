/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The default plugin directory: where a plugin named in the config ("plugin": "battery_sim") is
 * looked up when the config gives no "plugin_dir", and where `gridems plugin-info NAME` looks.
 *
 *   - A binary running from its build tree (the directory it was built in) uses
 *     <build>/plugins, where the build puts the plugins: the tests and examples rely on it.
 *   - An installed binary uses <bindir>/<relative path to the plugin dir> when that directory
 *     exists (so that an install under any prefix, `cmake --install build --prefix P`, finds
 *     P/lib/gridems/plugins), else the plugin directory of the configured install prefix
 *     (${CMAKE_INSTALL_FULL_LIBDIR}/gridems/plugins).
 *
 * Thread: any (computed once).
 */
#ifndef GRIDEMS_PLUGIN_DIR_H
#define GRIDEMS_PLUGIN_DIR_H

/* The default plugin directory, an absolute path owned by the module (never NULL). */
const char *gridems__default_plugin_dir(void);

#endif
