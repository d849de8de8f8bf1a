/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Which files gridems trusts: secrets (the MQTT password, a TLS private key) and code (plugins).
 * docs/security.md gives the rules and why.
 *
 * - A secret file is refused when others may read or write it, or its group may write it; a
 *   group-readable one is accepted with a warning (that is how a service user is often given a
 *   key: root:gridems 0640). The config itself may hold an inline password: then a group- or
 *   world-readable config gets a warning.
 * - Code is refused, as sshd's StrictModes refuses an authorized_keys file, when the file or any
 *   directory above it (of the path as given and of its resolved path) is writable by group or
 *   others, or is owned by neither root nor the user gridems runs as. A directory with the sticky
 *   bit owned by root (/tmp) is accepted: others can add entries there but not replace ours.
 *
 * Threads: any; nothing here keeps state. Warnings go through log.h (safe from any thread).
 */
#ifndef GRIDEMS_TRUST_H
#define GRIDEMS_TRUST_H

#include <stddef.h>

/* The largest secret read from a file; a longer file is not a password. */
#define GRIDEMS_SECRET_MAX_BYTES 4096

/*
 * gridems__secret_path: where the secret named by a config value lives. An absolute path is
 * itself; a relative one is a systemd credential name, resolved in $CREDENTIALS_DIRECTORY (set
 * by LoadCredential=), and refused when that variable is not set.
 * Parameters: value (borrowed); key names the config key for messages ("mqtt.password_file");
 *   *out receives a new string (caller frees); err/errlen as usual.
 * Returns 0, GRIDEMS_ECONFIG or GRIDEMS_ENOMEM.
 */
int gridems__secret_path(const char *value, const char *key, char **out, char *err, size_t errlen);

/*
 * gridems__secret_check: check the mode of an existing secret file (rules above); a
 * group-readable one is logged as a warning. key names the config key for messages.
 * Returns 0, GRIDEMS_ENOENT (cannot stat) or GRIDEMS_ECONFIG (others may read it, or group or
 * others may write it), with err naming the path, its mode and the fix.
 */
int gridems__secret_check(const char *path, const char *key, char *err, size_t errlen);

/*
 * gridems__secret_read: check path as above and read it: the whole file, one trailing "\n" or
 * "\r\n" removed. Refused when empty, longer than GRIDEMS_SECRET_MAX_BYTES, or holding a NUL or
 * another control character (a line break inside it is a mistake, not a password).
 * *out receives a new NUL-terminated string (caller frees; wipe it before freeing if it matters).
 * Returns 0, GRIDEMS_ENOENT, GRIDEMS_EIO, GRIDEMS_ECONFIG or GRIDEMS_ENOMEM.
 */
int gridems__secret_read(const char *path, const char *key, char **out, char *err, size_t errlen);

/*
 * gridems__warn_if_readable: log a warning when the file at path (a config that holds an
 * inline secret, named by what) may be read by group or others. Nothing is refused.
 */
void gridems__warn_if_readable(const char *path, const char *what);

/*
 * gridems__code_trusted: may the shared object at path be loaded (rules above)?
 * Returns 0; GRIDEMS_ENOENT (it or a directory does not exist); GRIDEMS_EPLUGIN (untrusted), with
 * err naming the offending file or directory, its mode and owner, e.g.
 *   "plugin /opt/p/gridems_x.so refused: directory /opt/p is writable by others (mode 0777);
 *    chmod o-w it"
 */
int gridems__code_trusted(const char *path, char *err, size_t errlen);

#endif
