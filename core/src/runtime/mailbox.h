/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * A thread-safe mailbox: the one way work crosses from another thread (Paho's callbacks, the
 * solver thread) into the libuv loop thread.
 *
 * It is a mutex, an intrusive FIFO of caller-allocated nodes and one uv_async_t. Producers on any
 * thread post nodes; the loop's async callback swaps the whole list out under the lock and hands
 * every node, in posting order, to the consumer callback, which then owns it. Nodes are embedded
 * in the producer's own event structs (container_of style), so posting never allocates and never
 * fails for lack of memory.
 *
 * Closing is the delicate part (libuv #2226 and #3626: closing an async handle while another
 * thread is still inside uv_async_send() is a use-after-free). The protocol here:
 *   1. gridems_mailbox_close() sets "closing" under the lock. Every uv_async_send() happens while
 *      the lock is held, so once close holds the lock no producer is inside uv_async_send(), and
 *      every later post fails with GRIDEMS_ESTATE (ownership stays with the producer).
 *   2. It hands what is still queued to the consumer, then calls uv_close() on the async handle.
 *   3. The mailbox memory may be released only in the close callback.
 * What the mailbox cannot do for its owner: a producer that calls post after the close callback
 * has released the memory touches freed memory. The owner must make sure that every producer has
 * stopped, or will never post again, before it frees the mailbox in the close callback (for Paho:
 * MQTTAsync_destroy() has returned; for a worker thread: it has been joined).
 */
#ifndef GRIDEMS_MAILBOX_H
#define GRIDEMS_MAILBOX_H

#include <stddef.h>
#include <uv.h>

/* An intrusive list link, embedded in the producer's event struct. */
typedef struct gridems_mailbox_node_s {
    struct gridems_mailbox_node_s *next;
} gridems_mailbox_node_t;

typedef struct gridems_mailbox_s gridems_mailbox_t;

/*
 * Consumer callback, called on the loop thread once per node, in posting order. Ownership of the
 * node passes to the consumer. It may post to the mailbox, and it may call gridems_mailbox_close()
 * (the rest of the batch is still delivered to it).
 */
typedef void (*gridems_mailbox_consume_cb)(gridems_mailbox_t *mb, gridems_mailbox_node_t *node);

/* Close callback, called on the loop thread once the async handle is closed. The mailbox memory
 * may be freed here and not before. */
typedef void (*gridems_mailbox_close_cb)(gridems_mailbox_t *mb);

/* Embedded by the caller, libuv style. Only `data` is for the owner; the rest is private. */
struct gridems_mailbox_s {
    void *data; /* Owner's pointer; the mailbox never touches it. */
    /* Private fields. */
    uv_async_t async;
    uv_mutex_t lock;
    gridems_mailbox_node_t *head; /* Guarded by lock. */
    gridems_mailbox_node_t *tail; /* Guarded by lock. */
    int closing;                  /* Guarded by lock; set once, never cleared. */
    gridems_mailbox_consume_cb consume;
    gridems_mailbox_close_cb close_cb;
};

/*
 * Initialise a mailbox on loop.
 *   loop:    borrowed; must outlive the mailbox.
 *   mb:      caller-allocated; must stay valid until close_cb runs.
 *   consume: required; called on the loop thread for each node.
 * Returns 0, GRIDEMS_EINVAL for NULL arguments, or a libuv error (negative errno) from
 * uv_async_init/uv_mutex_init; on error nothing needs closing and consume is never called.
 * Thread: the loop thread. Set mb->data after a successful init (init does not touch it).
 */
int gridems_mailbox_init(uv_loop_t *loop, gridems_mailbox_t *mb,
                         gridems_mailbox_consume_cb consume);

/*
 * Queue node for the consumer and wake the loop.
 *   mb:   borrowed; its memory must still be valid (see the close protocol above).
 *   node: caller-allocated; ownership is transferred on success only. On error the caller still
 *         owns it and must free it.
 * Returns 0, GRIDEMS_EINVAL for NULL arguments, or GRIDEMS_ESTATE once close has begun.
 * Thread: any (including the loop thread and other threads' callbacks). Never blocks for long:
 * the lock is held only to link the node and signal the async handle.
 */
int gridems_mailbox_post(gridems_mailbox_t *mb, gridems_mailbox_node_t *node);

/*
 * gridems_mailbox_drain: deliver what is queued now, in order, on the calling (consumer's)
 * thread, without waiting for the async wake-up (which then finds nothing or only later
 * posts). For an owner that must handle a result at a known point (the lockstep's solves).
 * Thread: the loop thread.
 */
void gridems_mailbox_drain(gridems_mailbox_t *mb);

/*
 * Stop accepting posts, deliver whatever is still queued to the consumer (synchronously, on this
 * thread), then uv_close() the async handle; close_cb (may be NULL) runs from a later loop
 * iteration, after which the owner may free mb. Calling it again before close_cb has run is a
 * no-op (the first close_cb stays). There is no error case; close_cb is always called.
 *   mb:       borrowed until close_cb; then the owner's to free.
 *   close_cb: may be NULL.
 * Thread: the loop thread only. It may be called from inside the consumer callback.
 */
void gridems_mailbox_close(gridems_mailbox_t *mb, gridems_mailbox_close_cb close_cb);

#endif
