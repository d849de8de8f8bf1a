/* SPDX-License-Identifier: GPL-3.0-or-later */
/* cluster_sim's driver, the gridems side (cluster_driver.c); cluster_state.h has its state.
 * Threads: the host's loop thread, as every plugin callback. */
#ifndef GRIDEMS_CLUSTER_DRIVER_H
#define GRIDEMS_CLUSTER_DRIVER_H

#include "cluster_state.h"

/* The device's callbacks (gridems_device_desc_t; userdata: the cluster_t). */
int cluster_drv_read(gridems_device_id_t dev, void *userdata);
int cluster_drv_caps(gridems_device_id_t dev, void *userdata, gridems_caps_t *out);
int cluster_drv_setpoint(gridems_device_id_t dev, void *userdata, const gridems_setpoint_t *sp);
int cluster_drv_event(gridems_device_id_t dev, void *userdata, const gridems_device_event_t *ev);

/* The telemetry subscription (arg: the cluster_t). */
void cluster_drv_on_telemetry(gridems_plugin_t *self, const gridems_message_t *msg, void *arg);

/* Free what the driver holds (not d itself). */
void cluster_drv_free(driver_t *d);

#endif
