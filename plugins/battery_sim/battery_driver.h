/* SPDX-License-Identifier: GPL-3.0-or-later */
/* battery_sim's driver, the gridems side (battery_driver.c); battery_state.h has its state.
 * A vendor's driver for a real battery gateway would be this half alone, with the same messages.
 * Threads: the host's loop thread, as every plugin callback. */
#ifndef GRIDEMS_BATTERY_DRIVER_H
#define GRIDEMS_BATTERY_DRIVER_H

#include "battery_state.h"

/* The device's callbacks (gridems_device_desc_t; userdata: the battery_t). */
int battery_drv_read(gridems_device_id_t dev, void *userdata);
int battery_drv_caps(gridems_device_id_t dev, void *userdata, gridems_caps_t *out);
int battery_drv_setpoint(gridems_device_id_t dev, void *userdata, const gridems_setpoint_t *sp);
int battery_drv_event(gridems_device_id_t dev, void *userdata, const gridems_device_event_t *ev);

/* The telemetry subscription (arg: the battery_t). */
void battery_drv_on_telemetry(gridems_plugin_t *self, const gridems_message_t *msg, void *arg);

#endif
