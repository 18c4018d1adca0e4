/* stall.h: how long each iteration of a libev loop worked: the wall time
 * from the moment its poll returned to the moment it polls again, less the
 * time the thread sat runnable on the run queue (another process held the
 * CPU: the scheduler's doing, not the loop's). A wait inside the iteration
 * (a blocking query, a sleep, a lock) counts in full. */
#ifndef TW_STALL_H
#define TW_STALL_H

#include <ev.h>

typedef struct tw_stall tw_stall;

/* Calls fn(arg, seconds) after every iteration of loop, on the loop. Uses
 * the loop's release/acquire callbacks and userdata. NULL when out of
 * memory. */
tw_stall *tw_stall_start(struct ev_loop *loop, void (*fn)(void *arg, double seconds), void *arg);
void tw_stall_stop(tw_stall *s);

#endif
