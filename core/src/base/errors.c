/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "gridems/errors.h"

const char *gridems_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
#define XX(name, value, text)                                                                      \
    case (value):                                                                                  \
        return text;
        GRIDEMS_ERRNO_MAP(XX)
#undef XX
    default:
        return "unknown error";
    }
}

const char *gridems_err_name(int err)
{
    switch (err) {
    case 0:
        return "OK";
#define XX(name, value, text)                                                                      \
    case (value):                                                                                  \
        return #name;
        GRIDEMS_ERRNO_MAP(XX)
#undef XX
    default:
        return "EUNKNOWN";
    }
}
