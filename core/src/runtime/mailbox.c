/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "mailbox.h"

#include "gridems/errors.h"

#include <stddef.h>

/* Deliver a detached list to the consumer, in order. The next pointer is read before the call
 * because the consumer owns (and may free) the node from then on. */
static void deliver(gridems_mailbox_t *mb, gridems_mailbox_node_t *list)
{
    while (list != NULL) {
        gridems_mailbox_node_t *next = list->next;
        list->next = NULL;
        mb->consume(mb, list);
        list = next;
    }
}

void gridems_mailbox_drain(gridems_mailbox_t *mb)
{
    uv_mutex_lock(&mb->lock);
    gridems_mailbox_node_t *list = mb->head;
    mb->head = NULL;
    mb->tail = NULL;
    uv_mutex_unlock(&mb->lock);
    deliver(mb, list);
}

static void on_async(uv_async_t *handle)
{
    gridems_mailbox_t *mb = handle->data;

    /* Swap the whole list out under the lock and process it unlocked, so producers wait for
     * nothing longer than a pointer swap, and the consumer may post without deadlocking. */
    uv_mutex_lock(&mb->lock);
    gridems_mailbox_node_t *list = mb->head;
    mb->head = NULL;
    mb->tail = NULL;
    uv_mutex_unlock(&mb->lock);
    deliver(mb, list);
}

static void on_async_closed(uv_handle_t *handle)
{
    gridems_mailbox_t *mb = handle->data;

    /* No producer can be inside the lock now: close set "closing" under it, and later posts
     * only take it to read that flag and leave. The owner guarantees none will come at all. */
    uv_mutex_destroy(&mb->lock);
    if (mb->close_cb != NULL) {
        mb->close_cb(mb);
    }
}

int gridems_mailbox_init(uv_loop_t *loop, gridems_mailbox_t *mb, gridems_mailbox_consume_cb consume)
{
    if (loop == NULL || mb == NULL || consume == NULL) {
        return GRIDEMS_EINVAL;
    }
    mb->head = NULL;
    mb->tail = NULL;
    mb->closing = 0;
    mb->consume = consume;
    mb->close_cb = NULL;
    int rc = uv_mutex_init(&mb->lock);
    if (rc != 0) {
        return rc;
    }
    rc = uv_async_init(loop, &mb->async, on_async);
    if (rc != 0) {
        uv_mutex_destroy(&mb->lock);
        return rc;
    }
    mb->async.data = mb;
    return 0;
}

int gridems_mailbox_post(gridems_mailbox_t *mb, gridems_mailbox_node_t *node)
{
    if (mb == NULL || node == NULL) {
        return GRIDEMS_EINVAL;
    }
    node->next = NULL;
    uv_mutex_lock(&mb->lock);
    if (mb->closing) {
        uv_mutex_unlock(&mb->lock);
        return GRIDEMS_ESTATE;
    }
    if (mb->tail != NULL) {
        mb->tail->next = node;
    } else {
        mb->head = node;
    }
    mb->tail = node;
    /* uv_async_send() is called with the lock held on purpose: close takes the same lock to set
     * "closing", so no thread can still be inside uv_async_send() when uv_close() runs (libuv
     * #2226/#3626). It only writes to an eventfd and coalesces, so holding the lock is cheap. */
    int rc = uv_async_send(&mb->async);
    uv_mutex_unlock(&mb->lock);
    /* uv_async_send() cannot fail on a live handle; the node is queued either way, and the next
     * successful send or the close drain will deliver it. */
    (void)rc;
    return 0;
}

void gridems_mailbox_close(gridems_mailbox_t *mb, gridems_mailbox_close_cb close_cb)
{
    if (mb == NULL) {
        return;
    }
    uv_mutex_lock(&mb->lock);
    if (mb->closing) {
        uv_mutex_unlock(&mb->lock);
        return;
    }
    mb->closing = 1;
    gridems_mailbox_node_t *list = mb->head;
    mb->head = NULL;
    mb->tail = NULL;
    uv_mutex_unlock(&mb->lock);

    /* Nothing posted before close is lost: the consumer gets it now, on the loop thread. */
    mb->close_cb = close_cb;
    deliver(mb, list);
    uv_close((uv_handle_t *)&mb->async, on_async_closed);
}
