/* project.h: the projection state machine (docs/projection-rules.md). It
 * holds the state of the twinnings, pledges, parked deliveries and source
 * feeds that a batch touches (or, for a rebuild, all of them), applies
 * events in order, and marks what changed so the caller can write it. The
 * projector, twinctl rebuild and the tests share it. */
#ifndef TW_PROJECT_H
#define TW_PROJECT_H

#include <stdint.h>
#include "codec.h"
#include "geo.h"
#include "tables.h"

typedef enum { TW_TWINNING_NONE = 0, TW_TWINNING_ACTIVE, TW_TWINNING_ENDED } tw_twinning_status;
typedef enum { TW_PLEDGE_OPEN = 0, TW_PLEDGE_COMPLETE, TW_PLEDGE_CANCELLED } tw_pledge_status;

/* The rows of the projection tables: their columns are declared by the
 * table descriptions (tables.h); strings are owned by the state. */
typedef struct tw_twinning {
    TW_TWINNING_COLUMNS(TW_FIELD)
    int dirty;
} tw_twinning;

typedef struct tw_pledge {
    TW_PLEDGE_COLUMNS(TW_FIELD)
    int dirty;
} tw_pledge;

typedef struct tw_parked {
    TW_PARKED_COLUMNS(TW_FIELD)
    int stored;  /* a row exists in the database */
    int applied; /* its pledge arrived: delete the row (or never write it) */
    struct tw_parked *next;
} tw_parked;

typedef struct tw_source {
    TW_SOURCE_COLUMNS(TW_FIELD)
    int dirty;
} tw_source;

typedef struct tw_state tw_state;

tw_state *tw_state_new(void);
void tw_state_free(tw_state *st);
/* Forgets everything (between batches). */
void tw_state_reset(tw_state *st);

/* A state kept across batches (the projector's cache of its partitions'
 * twinnings and pledges) is committed after each batch is: every entry
 * becomes clean, and parked deliveries and source counters, which live in
 * the database as rows and deltas, are forgotten. */
void tw_state_committed(tw_state *st);
/* Twinnings and pledges held. */
size_t tw_state_size(const tw_state *st);
tw_twinning *tw_state_find_twinning(tw_state *st, const char *agency, const char *locality);
tw_pledge *tw_state_find_pledge(tw_state *st, const char *agency, const char *pledge_id);
int tw_state_has_agency(const tw_state *st, const char *code);
int tw_state_has_locality(const tw_state *st, const char *code);

/* Unit versions and lineage (borrowed; NULL = none). With them, an event's
 * locality code is resolved at its local date (geo.h) and a twinning
 * follows its commune through reorganisations: the state is then asked for
 * twinnings under every code of the unit's lineage (tw_project_codes), and
 * tw_state_add_locality is not consulted. Without them, a code is a unit
 * forever, as before issue 13. */
void tw_state_set_geo(tw_state *st, const tw_geo *geo);
/* The codes under which the twinning an event names may be filed: the
 * resolved unit's code and its predecessors' (or the code as sent, when
 * there is no geography or it does not resolve). The caller loads the
 * twinnings (agency, code) for each before applying. Returns the count. */
int tw_project_codes(const tw_state *st, const tw_event *ev, const char **codes, int max);

/* Reference data the batch may name. Returns -1 when out of memory. */
int tw_state_add_agency(tw_state *st, const char *code) __attribute__((warn_unused_result));
int tw_state_add_locality(tw_state *st, const char *code) __attribute__((warn_unused_result));

/* Loading stored rows: returns a new clean entry whose key fields are set
 * (the caller fills the rest), or NULL when out of memory. */
tw_twinning *tw_state_load_twinning(tw_state *st, const char *agency, const char *locality);
tw_pledge *tw_state_load_pledge(tw_state *st, const char *agency, const char *pledge_id,
                                const char *locality);
tw_parked *tw_state_load_parked(tw_state *st, const uint8_t event_id[16], const char *agency,
                                const char *pledge_id, const char *locality);
tw_source *tw_state_load_source(tw_state *st, const char *source_system, const char *agency);

/* Applies one event that passed tw_codec_check. Returns 0 when accepted
 * (state changed), -1 with rej filled when refused (state unchanged), -2
 * when out of memory. partition/offset place a parked delivery in order.
 * After an accepted event, tw_project_mapped tells whether its code was
 * mapped to another unit (a retired code, or a new code for an old date). */
int tw_project_apply(tw_state *st, const tw_event *ev, const uint8_t event_id[16],
                     int32_t partition, int64_t offset, tw_reject *rej);

int tw_project_mapped(const tw_state *st);

/* Iteration over what the state holds; start with *pos = 0. */
tw_twinning *tw_state_next_twinning(tw_state *st, size_t *pos);
tw_pledge *tw_state_next_pledge(tw_state *st, size_t *pos);
tw_source *tw_state_next_source(tw_state *st, size_t *pos);
/* Parked deliveries, every list; check ->stored and ->applied. */
tw_parked *tw_state_next_parked(tw_state *st, size_t *pos, tw_parked *prev);

/* Names of enum values as stored in tables ("ECONOMIC_MODEL"). */
const char *tw_category_name(int category);
const char *tw_funding_name(int funding);
const char *tw_twinning_status_name(tw_twinning_status s);
const char *tw_pledge_status_name(tw_pledge_status s);
int tw_category_from_name(const char *name);
int tw_funding_from_name(const char *name);

#endif
