/* geo.h: administrative units over time (schemas/020_unit_versions.sql) and
 * the resolution of a locality code at an event's local date
 * (docs/projection-rules.md, "Which locality an event belongs to"). The
 * projector, twinctl rebuild and the tests load the same versions and
 * lineage and so resolve alike. */
#ifndef TW_GEO_H
#define TW_GEO_H

#include <stddef.h>
#include <stdint.h>

/* Open ends of a version's validity ('-infinity', 'infinity'). */
#define TW_GEO_BEGINNING (INT32_MIN + 1)
#define TW_GEO_NEVER     INT32_MAX

typedef struct tw_geo tw_geo;

/* One version of a unit: code, valid from/to (days since 1970-01-01, both
 * included). Owned by the tw_geo. */
typedef struct tw_geo_unit {
    const char *code;
    int32_t from, to;
} tw_geo_unit;

typedef enum {
    TW_GEO_VALID = 0, /* the code's version valid that day */
    TW_GEO_MAPPED,    /* the code was not valid that day; its one successor (or, for a code
                       * used before it began, its one predecessor) was */
    TW_GEO_AMBIGUOUS, /* a split: several units of that day came from (or went into) it */
    TW_GEO_ABOLISHED, /* the code ended with no successor */
    TW_GEO_UNKNOWN    /* never a code in the reference data */
} tw_geo_status;

#define TW_GEO_MAX_CANDIDATES 16

typedef struct tw_geo_res {
    tw_geo_status status;
    const tw_geo_unit *unit;                              /* VALID, MAPPED */
    const tw_geo_unit *candidates[TW_GEO_MAX_CANDIDATES]; /* AMBIGUOUS, code order */
    int ncandidates;
    int32_t ended; /* ABOLISHED, MAPPED forward: the last day of the code's version */
} tw_geo_res;

tw_geo *tw_geo_new(void);
void tw_geo_free(tw_geo *g);
/* Forgets every version and lineage row (before a reload). */
void tw_geo_clear(tw_geo *g);
/* Number of versions held. */
int tw_geo_size(const tw_geo *g);

/* Adds a version. Returns 0, -1 when out of memory. */
int tw_geo_add_version(tw_geo *g, const char *code, int32_t from, int32_t to)
    __attribute__((warn_unused_result));
/* Adds a lineage row: version (old_code, old_from) went (wholly or in part)
 * into (new_code, new_from); new_code NULL marks it abolished. Versions may
 * be added before or after; unknown ones are ignored at resolution. Returns
 * 0, -1 when out of memory. */
int tw_geo_add_lineage(tw_geo *g, const char *old_code, int32_t old_from, const char *new_code,
                       int32_t new_from) __attribute__((warn_unused_result));

/* The query whose rows tw_geo_add_row takes, one per version ('v', code,
 * valid_from, valid_to, NULL) and lineage row ('l', old_code, old_from,
 * new_code or NULL, new_from or NULL): the projector and twinctl rebuild
 * load the same geography the same way. */
#define TW_GEO_SQL                                                                                 \
    "SELECT 'v', code, valid_from::text, valid_to::text, NULL FROM ref.unit_version"               \
    " UNION ALL SELECT 'l', old_code, old_from::text, new_code, new_from::text"                    \
    " FROM ref.unit_lineage ORDER BY 1 DESC, 2, 3, 4"
/* Adds one row of TW_GEO_SQL (NULL for SQL NULL). Returns 0, -1 when out of
 * memory or a date does not parse. Versions come first in that order. */
int tw_geo_add_row(tw_geo *g, const char *kind, const char *code, const char *from,
                   const char *third, const char *fourth) __attribute__((warn_unused_result));

/* Parses a PostgreSQL date ("2025-07-01", "-infinity", "infinity"). */
int tw_geo_parse_day(const char *s, int32_t *day) __attribute__((warn_unused_result));

/* Resolves code at local day (tw_date_of_ms of the event's occurred_at). */
void tw_geo_resolve(const tw_geo *g, const char *code, int32_t day, tw_geo_res *out);

/* The codes a twinning with unit u may be filed under: u's own code first,
 * then the codes of every version it came from, nearest first (each code
 * once). Returns how many were written (at most max). */
int tw_geo_lineage_codes(const tw_geo *g, const tw_geo_unit *u, const char **codes, int max);

/* "20194, 20197": the candidates of an ambiguous result, for messages. */
void tw_geo_candidates_text(const tw_geo_res *r, char *out, size_t outlen);

#endif
