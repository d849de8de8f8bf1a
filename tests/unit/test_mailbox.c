/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Unit tests for the mailbox: producer threads against a real libuv loop, FIFO order per
 * producer, the close protocol (drain, reject, close callback) and uv_loop_close() == 0.
 */
#include "check_run.h"
#include "gridems/errors.h"
#include "mailbox.h"
#include "test_util.h"

#include <check.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

typedef struct item_s {
    gridems_mailbox_node_t node;
    int producer;
    int seq;
} item_t;

enum { MAX_PRODUCERS = 8 };

typedef struct fixture_s {
    uv_loop_t loop;
    gridems_mailbox_t mb;
    int consumed;
    int next_seq[MAX_PRODUCERS]; /* Next sequence number expected from each producer. */
    int order_errors;
    int closed; /* Number of close callback runs. */
    /* Optional behaviour of the consumer. */
    int close_after; /* Close the mailbox from inside the consumer after this many; 0 = never. */
    int repost;      /* Repost this many extra items from inside the consumer. */
    int repost_rc;   /* Return code of the last repost. */
} fixture_t;

static item_t *item_new(int producer, int seq)
{
    item_t *it = malloc(sizeof *it);
    ck_assert_ptr_nonnull(it);
    it->producer = producer;
    it->seq = seq;
    return it;
}

static void on_close(gridems_mailbox_t *mb)
{
    fixture_t *f = mb->data;
    f->closed++;
}

static void consume(gridems_mailbox_t *mb, gridems_mailbox_node_t *node)
{
    fixture_t *f = mb->data;
    item_t *it = container_of(node, item_t, node);
    if (it->producer < 0 || it->producer >= MAX_PRODUCERS || it->seq != f->next_seq[it->producer]) {
        f->order_errors++;
    } else {
        f->next_seq[it->producer]++;
    }
    f->consumed++;
    free(it);
    if (f->repost > 0) {
        f->repost--;
        item_t *again = item_new(MAX_PRODUCERS - 1, f->next_seq[MAX_PRODUCERS - 1]);
        f->repost_rc = gridems_mailbox_post(mb, &again->node);
        if (f->repost_rc != 0) {
            free(again);
        }
    }
    if (f->close_after > 0 && f->consumed == f->close_after) {
        gridems_mailbox_close(mb, on_close);
        f->repost = 1; /* The next item tries to post into the closing mailbox. */
    }
}

static void fixture_init(fixture_t *f)
{
    memset(f, 0, sizeof *f);
    ck_assert_int_eq(uv_loop_init(&f->loop), 0);
    ck_assert_int_eq(gridems_mailbox_init(&f->loop, &f->mb, consume), 0);
    f->mb.data = f;
}

/* Run the loop without blocking until *counter reaches target or timeout_ms passes. */
static int wait_count(uv_loop_t *loop, const int *counter, int target, int timeout_ms)
{
    double deadline = test_now_ms() + timeout_ms;
    for (;;) {
        uv_run(loop, UV_RUN_NOWAIT);
        if (*counter >= target) {
            return 1;
        }
        if (test_now_ms() > deadline) {
            return 0;
        }
        test_sleep_ms(1);
    }
}

static void fixture_close(fixture_t *f)
{
    gridems_mailbox_close(&f->mb, on_close);
    ck_assert(wait_count(&f->loop, &f->closed, 1, 2000));
    ck_assert_int_eq(f->closed, 1);
    ck_assert_int_eq(uv_loop_close(&f->loop), 0);
}

/* ---- ## Producer threads ---- */

typedef struct producer_s {
    uv_thread_t thread;
    gridems_mailbox_t *mb;
    int id;
    int count;         /* Items to post; < 0 = post until the mailbox refuses. */
    int posted;        /* Items accepted. */
    int rejected;      /* Items refused with GRIDEMS_ESTATE (freed by the producer). */
    atomic_int *ready; /* Counts producers that posted their first item. */
} producer_t;

static void producer_main(void *arg)
{
    producer_t *p = arg;
    for (int seq = 0; p->count < 0 || seq < p->count; seq++) {
        item_t *it = malloc(sizeof *it);
        if (it == NULL) {
            break;
        }
        it->producer = p->id;
        it->seq = seq;
        int rc = gridems_mailbox_post(p->mb, &it->node);
        if (rc != 0) {
            /* Refused: ownership stayed with us. */
            free(it);
            if (rc == GRIDEMS_ESTATE) {
                p->rejected++;
            }
            break;
        }
        p->posted++;
        if (seq == 0 && p->ready != NULL) {
            atomic_fetch_add(p->ready, 1);
        }
        if ((seq & 63) == 0) {
            uv_sleep(0); /* Let the loop thread interleave. */
        }
    }
}

START_TEST(test_init_rejects_null)
{
    uv_loop_t loop;
    gridems_mailbox_t mb;
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    ck_assert_int_eq(gridems_mailbox_init(NULL, &mb, consume), GRIDEMS_EINVAL);
    ck_assert_int_eq(gridems_mailbox_init(&loop, NULL, consume), GRIDEMS_EINVAL);
    ck_assert_int_eq(gridems_mailbox_init(&loop, &mb, NULL), GRIDEMS_EINVAL);
    ck_assert_int_eq(gridems_mailbox_post(NULL, NULL), GRIDEMS_EINVAL);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

START_TEST(test_single_thread_fifo)
{
    fixture_t f;
    fixture_init(&f);
    for (int i = 0; i < 100; i++) {
        item_t *it = item_new(0, i);
        ck_assert_int_eq(gridems_mailbox_post(&f.mb, &it->node), 0);
    }
    /* Nothing is delivered until the loop runs. */
    ck_assert_int_eq(f.consumed, 0);
    ck_assert(wait_count(&f.loop, &f.consumed, 100, 2000));
    ck_assert_int_eq(f.order_errors, 0);
    ck_assert_int_eq(f.next_seq[0], 100);
    fixture_close(&f);
}
END_TEST

START_TEST(test_threads_fifo_per_producer)
{
    enum { PRODUCERS = 4, PER_PRODUCER = 20000 };
    fixture_t f;
    fixture_init(&f);
    producer_t prod[PRODUCERS];
    for (int i = 0; i < PRODUCERS; i++) {
        prod[i] = (producer_t){.mb = &f.mb, .id = i, .count = PER_PRODUCER};
        ck_assert_int_eq(uv_thread_create(&prod[i].thread, producer_main, &prod[i]), 0);
    }
    int ok = wait_count(&f.loop, &f.consumed, PRODUCERS * PER_PRODUCER, 20000);
    for (int i = 0; i < PRODUCERS; i++) {
        ck_assert_int_eq(uv_thread_join(&prod[i].thread), 0);
    }
    ck_assert_msg(ok, "consumed only %d of %d", f.consumed, PRODUCERS * PER_PRODUCER);
    ck_assert_int_eq(f.order_errors, 0);
    for (int i = 0; i < PRODUCERS; i++) {
        ck_assert_int_eq(prod[i].posted, PER_PRODUCER);
        ck_assert_int_eq(f.next_seq[i], PER_PRODUCER);
    }
    fixture_close(&f);
}
END_TEST

START_TEST(test_close_drains_then_rejects)
{
    fixture_t f;
    fixture_init(&f);
    for (int i = 0; i < 3; i++) {
        item_t *it = item_new(0, i);
        ck_assert_int_eq(gridems_mailbox_post(&f.mb, &it->node), 0);
    }
    gridems_mailbox_close(&f.mb, on_close);
    /* Queued items reach the consumer synchronously, inside close. */
    ck_assert_int_eq(f.consumed, 3);
    ck_assert_int_eq(f.order_errors, 0);
    /* A post after close is refused and the caller keeps the node. */
    item_t *late = item_new(0, 3);
    ck_assert_int_eq(gridems_mailbox_post(&f.mb, &late->node), GRIDEMS_ESTATE);
    free(late);
    /* A second close is a no-op; the close callback runs exactly once, from the loop. */
    gridems_mailbox_close(&f.mb, on_close);
    ck_assert_int_eq(f.closed, 0);
    ck_assert(wait_count(&f.loop, &f.closed, 1, 2000));
    uv_run(&f.loop, UV_RUN_NOWAIT);
    ck_assert_int_eq(f.closed, 1);
    ck_assert_int_eq(uv_loop_close(&f.loop), 0);
}
END_TEST

START_TEST(test_close_while_producers_post)
{
    enum { PRODUCERS = 4 };
    /* The heap, not the stack, so the mailbox demonstrably outlives every producer. */
    fixture_t *f = malloc(sizeof *f);
    ck_assert_ptr_nonnull(f);
    fixture_init(f);
    atomic_int ready = 0;
    producer_t prod[PRODUCERS];
    for (int i = 0; i < PRODUCERS; i++) {
        prod[i] = (producer_t){.mb = &f->mb, .id = i, .count = -1, .ready = &ready};
        ck_assert_int_eq(uv_thread_create(&prod[i].thread, producer_main, &prod[i]), 0);
    }
    /* Let every producer get going and the loop consume a good number of items. */
    double deadline = test_now_ms() + 10000;
    while ((atomic_load(&ready) < PRODUCERS || f->consumed < 5000) && test_now_ms() < deadline) {
        uv_run(&f->loop, UV_RUN_NOWAIT);
        test_sleep_ms(1);
    }
    ck_assert_int_eq(atomic_load(&ready), PRODUCERS);

    /* Close while producers are still posting: they must be refused, never crash. The owner's
     * duty is to stop them before the close callback frees the memory: here, join them. */
    gridems_mailbox_close(&f->mb, on_close);
    int posted = 0, rejected = 0;
    for (int i = 0; i < PRODUCERS; i++) {
        ck_assert_int_eq(uv_thread_join(&prod[i].thread), 0);
        posted += prod[i].posted;
        rejected += prod[i].rejected;
    }
    ck_assert_int_eq(rejected, PRODUCERS);
    /* Every accepted item was delivered (the close drained the rest), and in order. */
    ck_assert_int_eq(f->consumed, posted);
    ck_assert_int_eq(f->order_errors, 0);
    ck_assert(wait_count(&f->loop, &f->closed, 1, 2000));
    ck_assert_int_eq(uv_loop_close(&f->loop), 0);
    free(f);
}
END_TEST

START_TEST(test_consumer_posts_and_closes)
{
    fixture_t f;
    fixture_init(&f);
    /* The consumer reposts two items (delivered on a later wake-up, not lost), and closes the
     * mailbox from inside the callback after the fourth item; the fifth queued item must still
     * be delivered, and later reposts are refused. */
    f.repost = 2;
    f.close_after = 4;
    item_t *a = item_new(MAX_PRODUCERS - 1, 0);
    ck_assert_int_eq(gridems_mailbox_post(&f.mb, &a->node), 0);
    ck_assert(wait_count(&f.loop, &f.consumed, 3, 2000));
    ck_assert_int_eq(f.repost_rc, 0);
    for (int i = 0; i < 3; i++) {
        item_t *it = item_new(0, i);
        ck_assert_int_eq(gridems_mailbox_post(&f.mb, &it->node), 0);
    }
    ck_assert(wait_count(&f.loop, &f.closed, 1, 2000));
    ck_assert_int_eq(f.consumed, 6);
    ck_assert_int_eq(f.order_errors, 0);
    ck_assert_int_eq(f.repost_rc, GRIDEMS_ESTATE);
    ck_assert_int_eq(uv_loop_close(&f.loop), 0);
}
END_TEST

static Suite *mailbox_suite(void)
{
    Suite *s = suite_create("mailbox");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_init_rejects_null);
    tcase_add_test(tc, test_single_thread_fifo);
    tcase_add_test(tc, test_threads_fifo_per_producer);
    tcase_add_test(tc, test_close_drains_then_rejects);
    tcase_add_test(tc, test_close_while_producers_post);
    tcase_add_test(tc, test_consumer_posts_and_closes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return test_run_suite(mailbox_suite());
}
