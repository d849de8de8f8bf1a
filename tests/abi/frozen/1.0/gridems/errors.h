/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * gridems error codes.
 *
 * The rule everywhere (libuv's): 0 means success, a negative int is an error, and positive values
 * are only counts or sizes. Codes that have an errno equivalent equal -errno; project codes sit in
 * the reserved band -5000..-5999. Third-party codes (Paho, GLPK, cJSON) are translated at the
 * boundary and the original is logged there.
 *
 * This header is part of the public plugin ABI: values are never renumbered.
 */
#ifndef GRIDEMS_ERRORS_H
#define GRIDEMS_ERRORS_H

#include <errno.h>

#define GRIDEMS_ERRNO_MAP(XX)                                                                      \
    XX(EINVAL, -EINVAL, "invalid argument")                                                        \
    XX(ENOMEM, -ENOMEM, "out of memory")                                                           \
    XX(ETIMEDOUT, -ETIMEDOUT, "timed out")                                                         \
    XX(EAGAIN, -EAGAIN, "resource temporarily unavailable")                                        \
    XX(ENOENT, -ENOENT, "no such file or entry")                                                   \
    XX(EIO, -EIO, "input/output error")                                                            \
    XX(EEXIST, -EEXIST, "already exists")                                                          \
    XX(ENOSPC, -ENOSPC, "no space left")                                                           \
    XX(ECANCELED, -ECANCELED, "operation canceled")                                                \
    XX(ECONFIG, -5001, "invalid configuration")                                                    \
    XX(EABI, -5002, "incompatible plugin ABI")                                                     \
    XX(EINFEASIBLE, -5003, "problem is infeasible")                                                \
    XX(ESOLVER, -5004, "solver failure")                                                           \
    XX(EMQTT, -5005, "MQTT failure")                                                               \
    XX(EPARSE, -5006, "malformed input")                                                           \
    XX(ESTATE, -5007, "operation not valid in the current state")                                  \
    XX(EPLUGIN, -5008, "plugin failure")                                                           \
    XX(ETOOBIG, -5009, "input too large")

typedef enum {
#define GRIDEMS_ERR_ENUM_(name, value, text) GRIDEMS_##name = (value),
    GRIDEMS_ERRNO_MAP(GRIDEMS_ERR_ENUM_)
#undef GRIDEMS_ERR_ENUM_
        GRIDEMS_OK = 0
} gridems_errno_t;

/*
 * gridems_strerror: a human sentence for an error code ("unknown error" for codes outside the map).
 * gridems_err_name: the symbolic name without prefix ("EINVAL").
 * Returns: a static string, never NULL. Thread: any.
 */
const char *gridems_strerror(int err);
const char *gridems_err_name(int err);

#endif
