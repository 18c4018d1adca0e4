/* backoff.h: the wait before the next reconnect attempt, doubled at each
 * failure from 0.1 s up to a ceiling (retry.max_ms), and 0 again once
 * something worked. The projector's resync and the sentinel's LISTEN
 * connections use it. */
#ifndef TW_BACKOFF_H
#define TW_BACKOFF_H

/* The next wait after *delay (0: the first failure), at most max seconds;
 * stored back in *delay. */
static inline double tw_backoff_next(double *delay, double max)
{
    *delay = *delay <= 0 ? 0.1 : *delay * 2;
    if (*delay > max)
        *delay = max;
    return *delay;
}

#endif
