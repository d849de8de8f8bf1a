/* SPDX-License-Identifier: GPL-3.0-or-later */
/* meter_sim's driver, the gridems side (meter_driver.c); meter_state.h has its state.
 * Threads: the host's loop thread, as every plugin callback. */
#ifndef GRIDEMS_METER_DRIVER_H
#define GRIDEMS_METER_DRIVER_H

#include "meter_state.h"

/* The device's callbacks (gridems_device_desc_t; userdata: the meter_t). */
int meter_drv_read(gridems_device_id_t dev, void *userdata);
int meter_drv_caps(gridems_device_id_t dev, void *userdata, gridems_caps_t *out);

/* The telemetry subscription (arg: the meter_t). */
void meter_drv_on_telemetry(gridems_plugin_t *self, const gridems_message_t *msg, void *arg);

#endif
