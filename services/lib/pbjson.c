/* pbjson.c: the protobuf JSON mapping for any protobuf-c message, driven by
 * its descriptors. Messages are built with malloc so that
 * protobuf_c_message_free_unpacked(m, NULL) frees them, partial ones
 * included; errors name the failing field by its JSON path. */
#include "pbjson.h"

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIELD_PATH_MAX 256

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    tw_pbjson_clean_text(err); /* jansson quotes the text "near" an error */
}

/* ---- names ---------------------------------------------------------------- */

/* protoc's json_name: each '_' dropped and the letter after it upper-cased.
 * Writes at most outlen bytes, truncating. */
static void json_name_to(char *out, size_t outlen, const char *name)
{
    bool up = false;
    size_t n = 0;

    for (; *name != '\0' && n + 1 < outlen; name++) {
        if (*name == '_') {
            up = true;
            continue;
        }
        out[n++] = up ? (char)toupper((unsigned char)*name) : *name;
        up = false;
    }
    if (outlen > 0)
        out[n] = '\0';
}

static char *json_name(const char *name)
{
    size_t len = strlen(name) + 1;
    char *out = malloc(len);

    if (out != NULL)
        json_name_to(out, len, name);
    return out;
}

static bool json_name_equals(const char *name, const char *key)
{
    bool up = false;

    for (; *name != '\0'; name++) {
        if (*name == '_') {
            up = true;
            continue;
        }
        if (*key++ != (up ? (char)toupper((unsigned char)*name) : *name))
            return false;
        up = false;
    }
    return *key == '\0';
}

const ProtobufCFieldDescriptor *tw_pbjson_find_field(const ProtobufCMessageDescriptor *d,
                                                     const char *key)
{
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(d, key);

    for (unsigned i = 0; f == NULL && i < d->n_fields; i++)
        if (json_name_equals(d->fields[i].name, key))
            f = &d->fields[i];
    return f;
}

/* "parent.jsonName", the way errors name a field. */
static void child_path(char *out, size_t outlen, const char *parent, const char *name)
{
    size_t n = (size_t)snprintf(out, outlen, "%s%s", parent, *parent ? "." : "");

    if (n < outlen)
        json_name_to(out + n, outlen - n, name);
}

static const char *type_name(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        return "int32";
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return "uint32";
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        return "int64";
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return "uint64";
    default:
        return "number";
    }
}

/* ---- base64 and UTF-8, for bytes and strings ------------------------------ */

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

/* Standard or URL-safe alphabet, padding optional, as the JSON mapping
 * allows. Returns 0, or -1 when s is not base64 or memory ran out. */
static int base64_decode(const char *s, ProtobufCBinaryData *out)
{
    size_t n = strlen(s), len = 0;
    uint32_t acc = 0;
    int bits = 0;
    uint8_t *buf;

    for (int pad = 0; pad < 2 && n > 0 && s[n - 1] == '='; pad++)
        n--;
    if (n % 4 == 1 || (buf = malloc(n / 4 * 3 + 3)) == NULL)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int v = b64_value((unsigned char)s[i]);
        if (v < 0) {
            free(buf);
            return -1;
        }
        acc = ((acc << 6) | (uint32_t)v) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[len++] = (uint8_t)(acc >> bits);
        }
    }
    if (len == 0) {
        free(buf);
        buf = NULL;
    }
    out->data = buf;
    out->len = len;
    return 0;
}

static char *base64_encode(const uint8_t *p, size_t n)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;

    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        *o++ = a[v >> 18];
        *o++ = a[(v >> 12) & 63];
        *o++ = i + 1 < n ? a[(v >> 6) & 63] : '=';
        *o++ = i + 2 < n ? a[v & 63] : '=';
    }
    *o = '\0';
    return out;
}

size_t tw_pbjson_utf8_seq(const unsigned char *p)
{
    uint32_t cp;
    size_t n;

    if (p[0] < 0x80)
        return 1;
    if (p[0] >= 0xc2 && p[0] <= 0xdf)
        n = 2, cp = p[0] & 0x1f;
    else if ((p[0] & 0xf0) == 0xe0)
        n = 3, cp = p[0] & 0x0f;
    else if (p[0] >= 0xf0 && p[0] <= 0xf4)
        n = 4, cp = p[0] & 0x07;
    else
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

char *tw_pbjson_clean_text(char *s)
{
    for (unsigned char *p = (unsigned char *)s; *p;) {
        size_t n = tw_pbjson_utf8_seq(p);
        if (n == 0 || (n == 1 && (*p < 0x20 || *p == 0x7f)))
            *p = '?', n = 1;
        p += n;
    }
    return s;
}

/* A JSON string; bytes that are not UTF-8 (protobuf-c's unpack does not
 * check) become U+FFFD rather than failing the whole rendering. */
static json_t *string_to_json(const char *s)
{
    json_t *v = json_string(s != NULL ? s : "");
    char *clean, *o;

    if (v != NULL || s == NULL)
        return v;
    if ((clean = malloc(strlen(s) * 3 + 1)) == NULL)
        return NULL;
    o = clean;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0';) {
        size_t n = tw_pbjson_utf8_seq(p);
        if (n == 0) {
            memcpy(o, "\xef\xbf\xbd", 3);
            o += 3;
            p++;
            continue;
        }
        memcpy(o, p, n);
        o += n;
        p += n;
    }
    *o = '\0';
    v = json_string(clean);
    free(clean);
    return v;
}

/* ---- JSON to message ------------------------------------------------------ */

static int map_object(ProtobufCMessage *m, json_t *obj, const char *path, char *err, size_t errlen);

static ProtobufCMessage *new_message(const ProtobufCMessageDescriptor *d)
{
    ProtobufCMessage *m = malloc(d->sizeof_message);

    if (m != NULL)
        protobuf_c_message_init(d, m);
    return m;
}

static bool is_decimal(const char *s)
{
    if (*s == '-')
        s++;
    if (*s == '\0')
        return false;
    for (; *s != '\0'; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

/* A JSON integer or decimal string as sign and magnitude. Returns 0, -1 when
 * v is not an integer, -2 when it does not fit 64 bits. */
static int json_to_int(json_t *v, bool *neg, uint64_t *mag)
{
    if (json_is_integer(v)) {
        json_int_t x = json_integer_value(v);
        *neg = x < 0;
        *mag = x < 0 ? (uint64_t)(-(x + 1)) + 1 : (uint64_t)x;
        return 0;
    }
    if (!json_is_string(v) || !is_decimal(json_string_value(v)))
        return -1;
    const char *s = json_string_value(v);
    *neg = *s == '-';
    errno = 0;
    *mag = strtoull(*neg ? s + 1 : s, NULL, 10);
    return errno == ERANGE ? -2 : 0;
}

static int convert_int(const ProtobufCFieldDescriptor *f, json_t *v, void *slot, const char *path,
                       char *err, size_t errlen)
{
    bool is_signed = true, neg;
    int bits = 64;
    uint64_t mag, limit;

    switch (f->type) {
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        is_signed = false;
        /* fall through */
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        bits = 32;
        break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        is_signed = false;
        break;
    default:
        break;
    }

    switch (json_to_int(v, &neg, &mag)) {
    case -1:
        if (json_is_string(v))
            set_err(err, errlen, "%s: expected an integer, got \"%s\"", path, json_string_value(v));
        else
            set_err(err, errlen, "%s: expected an integer", path);
        return -1;
    case -2:
        set_err(err, errlen, "%s: out of range for %s", path, type_name(f->type));
        return -1;
    }
    if (!is_signed && neg && mag != 0) {
        set_err(err, errlen, "%s: must not be negative (%s)", path, type_name(f->type));
        return -1;
    }
    if (is_signed)
        limit = (UINT64_C(1) << (bits - 1)) - (neg ? 0 : 1);
    else
        limit = bits == 64 ? UINT64_MAX : (UINT64_C(1) << bits) - 1;
    if (mag > limit) {
        set_err(err, errlen, "%s: out of range for %s", path, type_name(f->type));
        return -1;
    }

    if (is_signed) {
        int64_t x = neg ? (int64_t)(0 - mag) : (int64_t)mag; /* two's complement */
        if (bits == 32)
            *(int32_t *)slot = (int32_t)x;
        else
            *(int64_t *)slot = x;
    } else if (bits == 32) {
        *(uint32_t *)slot = (uint32_t)mag;
    } else {
        *(uint64_t *)slot = mag;
    }
    return 0;
}

/* Enums by name or by number; numbers the descriptor does not know pass
 * (proto3 enums are open), for the caller's validation to judge. */
static int convert_enum(const ProtobufCFieldDescriptor *f, json_t *v, void *slot, const char *path,
                        char *err, size_t errlen)
{
    const ProtobufCEnumDescriptor *ed = f->descriptor;
    bool neg;
    uint64_t mag;

    if (json_is_string(v)) {
        const ProtobufCEnumValue *ev =
            protobuf_c_enum_descriptor_get_value_by_name(ed, json_string_value(v));
        if (ev != NULL) {
            *(int32_t *)slot = ev->value;
            return 0;
        }
        if (!is_decimal(json_string_value(v))) {
            set_err(err, errlen, "%s: unknown %s value \"%s\"", path, ed->short_name,
                    json_string_value(v));
            return -1;
        }
    } else if (!json_is_integer(v)) {
        set_err(err, errlen, "%s: expected a %s name or number", path, ed->short_name);
        return -1;
    }
    if (json_to_int(v, &neg, &mag) < 0 || mag > (neg ? UINT64_C(0x80000000) : INT32_MAX)) {
        set_err(err, errlen, "%s: %s number out of range", path, ed->short_name);
        return -1;
    }
    *(int32_t *)slot = (int32_t)(neg ? (int64_t)0 - (int64_t)mag : (int64_t)mag);
    return 0;
}

/* Numbers, or the strings "NaN", "Infinity", "-Infinity" and decimals. */
static int convert_float(const ProtobufCFieldDescriptor *f, json_t *v, void *slot, const char *path,
                         char *err, size_t errlen)
{
    double d;

    if (json_is_number(v)) {
        d = json_number_value(v);
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        if (strcmp(s, "NaN") == 0) {
            d = (double)NAN;
        } else if (strcmp(s, "Infinity") == 0) {
            d = (double)INFINITY;
        } else if (strcmp(s, "-Infinity") == 0) {
            d = -(double)INFINITY;
        } else {
            errno = 0;
            d = strtod(s, &end);
            if (s[strspn(s, "0123456789+-.eE")] != '\0' || end == s || *end != '\0' ||
                errno == ERANGE) {
                set_err(err, errlen, "%s: expected a number, got \"%s\"", path, s);
                return -1;
            }
        }
    } else {
        set_err(err, errlen, "%s: expected a number", path);
        return -1;
    }
    if (f->type == PROTOBUF_C_TYPE_DOUBLE) {
        *(double *)slot = d;
        return 0;
    }
    if ((d > FLT_MAX || d < -FLT_MAX) && d != (double)INFINITY && d != -(double)INFINITY) {
        set_err(err, errlen, "%s: out of range for float", path);
        return -1;
    }
    *(float *)slot = (float)d;
    return 0;
}

/* One value into slot: a singular field's storage or a repeated field's
 * element. Pointers are stored only on success. */
static int convert_value(const ProtobufCFieldDescriptor *f, json_t *v, void *slot, const char *path,
                         char *err, size_t errlen)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_ENUM:
        return convert_enum(f, v, slot, path, err, errlen);
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE:
        return convert_float(f, v, slot, path, err, errlen);
    case PROTOBUF_C_TYPE_BOOL: {
        const char *s = json_is_string(v) ? json_string_value(v) : NULL;
        if (json_is_boolean(v) || (s != NULL && strcmp(s, "true") == 0) ||
            (s != NULL && strcmp(s, "false") == 0)) {
            *(protobuf_c_boolean *)slot = json_is_true(v) || (s != NULL && s[0] == 't');
            return 0;
        }
        set_err(err, errlen, "%s: expected true or false", path);
        return -1;
    }
    case PROTOBUF_C_TYPE_STRING: {
        char *s;
        if (!json_is_string(v)) {
            set_err(err, errlen, "%s: expected a string", path);
            return -1;
        }
        if ((s = strdup(json_string_value(v))) == NULL) {
            set_err(err, errlen, "%s: out of memory", path);
            return -1;
        }
        *(char **)slot = s;
        return 0;
    }
    case PROTOBUF_C_TYPE_BYTES:
        if (!json_is_string(v) ||
            base64_decode(json_string_value(v), (ProtobufCBinaryData *)slot) < 0) {
            set_err(err, errlen, "%s: expected base64 bytes", path);
            return -1;
        }
        return 0;
    case PROTOBUF_C_TYPE_MESSAGE: {
        ProtobufCMessage *sub;
        if (!json_is_object(v)) {
            set_err(err, errlen, "%s: expected an object", path);
            return -1;
        }
        if ((sub = new_message(f->descriptor)) == NULL) {
            set_err(err, errlen, "%s: out of memory", path);
            return -1;
        }
        if (map_object(sub, v, path, err, errlen) < 0) {
            protobuf_c_message_free_unpacked(sub, NULL);
            return -1;
        }
        *(ProtobufCMessage **)slot = sub;
        return 0;
    }
    default:
        return convert_int(f, v, slot, path, err, errlen);
    }
}

static size_t elem_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return 8;
    case PROTOBUF_C_TYPE_DOUBLE:
        return sizeof(double);
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING:
        return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(ProtobufCMessage *);
    default:
        return 4;
    }
}

static int set_repeated(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, json_t *v,
                        const char *path, char *err, size_t errlen)
{
    char *base = (char *)m, epath[FIELD_PATH_MAX];
    size_t n = json_array_size(v), size = elem_size(f->type);
    size_t *count = (size_t *)(base + f->quantifier_offset);
    char *arr;

    if (!json_is_array(v)) {
        set_err(err, errlen, "%s: expected an array", path);
        return -1;
    }
    if (n == 0)
        return 0;
    if ((arr = calloc(n, size)) == NULL) {
        set_err(err, errlen, "%s: out of memory", path);
        return -1;
    }
    /* Owned by m from here; the count says how many elements to free. */
    *(void **)(base + f->offset) = arr;
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(v, i);
        if (snprintf(epath, sizeof epath, "%s[%zu]", path, i) < 0) /* truncation is fine */
            epath[0] = '\0';
        if (json_is_null(e)) {
            set_err(err, errlen, "%s: null in a list", epath);
            return -1;
        }
        if (convert_value(f, e, arr + i * size, epath, err, errlen) < 0)
            return -1;
        *count = i + 1;
    }
    return 0;
}

static int set_field(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, json_t *v,
                     const char *path, char *err, size_t errlen)
{
    char *base = (char *)m;
    uint32_t *oneof_case = NULL;
    char *old_string = NULL;

    if (json_is_null(v))
        return 0; /* JSON null is an absent field */
    if (f->label == PROTOBUF_C_LABEL_REPEATED)
        return set_repeated(m, f, v, path, err, errlen);

    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
        oneof_case = (uint32_t *)(base + f->quantifier_offset);
        if (*oneof_case != 0 && *oneof_case != f->id) {
            const ProtobufCFieldDescriptor *other =
                protobuf_c_message_descriptor_get_field(m->descriptor, *oneof_case);
            char other_path[FIELD_PATH_MAX];
            child_path(other_path, sizeof other_path, "", other ? other->name : "?");
            set_err(err, errlen, "%s and %s both given: they are alternatives (oneof), give one",
                    other_path, path);
            return -1;
        }
    } else if (f->type == PROTOBUF_C_TYPE_STRING) {
        /* the descriptor's default, never freed; keep it until replaced */
        old_string = *(char **)(base + f->offset);
    }

    if (convert_value(f, v, base + f->offset, path, err, errlen) < 0)
        return -1;
    if (old_string != NULL && old_string != (const char *)f->default_value)
        free(old_string);

    if (oneof_case != NULL)
        *oneof_case = f->id;
    else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_STRING &&
             f->type != PROTOBUF_C_TYPE_MESSAGE)
        *(protobuf_c_boolean *)(base + f->quantifier_offset) = 1;
    return 0;
}

/* Fills m from the JSON object obj; on failure m holds what was set so far
 * and is still safe to free. path names obj in messages ("" at the top). */
static int map_object(ProtobufCMessage *m, json_t *obj, const char *path, char *err, size_t errlen)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    bool *seen = calloc(d->n_fields + 1, sizeof *seen);
    char fpath[FIELD_PATH_MAX];
    const char *key;
    json_t *v;
    int rc = -1;

    if (seen == NULL) {
        set_err(err, errlen, "out of memory");
        goto fail;
    }
    json_object_foreach(obj, key, v)
    {
        const ProtobufCFieldDescriptor *f = tw_pbjson_find_field(d, key);
        if (f == NULL) {
            set_err(err, errlen, "unknown field \"%s%s%s\"", path, *path ? "." : "", key);
            goto fail;
        }
        child_path(fpath, sizeof fpath, path, f->name);
        if (seen[f - d->fields]) {
            set_err(err, errlen, "%s: given twice", fpath);
            goto fail;
        }
        seen[f - d->fields] = true;
        if (set_field(m, f, v, fpath, err, errlen) < 0)
            goto fail;
    }
    rc = 0;
fail:
    free(seen);
    return rc;
}

ProtobufCMessage *tw_pbjson_from_object(const ProtobufCMessageDescriptor *d, json_t *obj, char *err,
                                        size_t errlen)
{
    ProtobufCMessage *m;

    if (!json_is_object(obj)) {
        set_err(err, errlen, "expected a JSON object");
        return NULL;
    }
    if ((m = new_message(d)) == NULL) {
        set_err(err, errlen, "out of memory");
        return NULL;
    }
    if (map_object(m, obj, "", err, errlen) < 0) {
        protobuf_c_message_free_unpacked(m, NULL);
        return NULL;
    }
    return m;
}

ProtobufCMessage *tw_pbjson_from_json(const ProtobufCMessageDescriptor *d, const char *text,
                                      size_t len, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root;
    ProtobufCMessage *m;

    if (text == NULL) {
        set_err(err, errlen, "no JSON text");
        return NULL;
    }
    if ((root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr)) == NULL) {
        set_err(err, errlen, "invalid JSON at column %d: %s", jerr.column, jerr.text);
        return NULL;
    }
    m = tw_pbjson_from_object(d, root, err, errlen);
    json_decref(root);
    return m;
}

/* ---- message to JSON ------------------------------------------------------ */

static json_t *message_to_json(const ProtobufCMessage *m);

static json_t *double_to_json(double d)
{
    if (d != d)
        return json_string("NaN");
    if (d == (double)INFINITY)
        return json_string("Infinity");
    if (d == -(double)INFINITY)
        return json_string("-Infinity");
    return json_real(d);
}

static json_t *value_to_json(const ProtobufCFieldDescriptor *f, const void *slot)
{
    char num[32];

    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        return json_integer(*(const int32_t *)slot);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return json_integer(*(const uint32_t *)slot);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        snprintf(num, sizeof num, "%" PRId64, *(const int64_t *)slot);
        return json_string(num);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        snprintf(num, sizeof num, "%" PRIu64, *(const uint64_t *)slot);
        return json_string(num);
    case PROTOBUF_C_TYPE_FLOAT:
        return double_to_json(*(const float *)slot);
    case PROTOBUF_C_TYPE_DOUBLE:
        return double_to_json(*(const double *)slot);
    case PROTOBUF_C_TYPE_BOOL:
        return json_boolean(*(const protobuf_c_boolean *)slot);
    case PROTOBUF_C_TYPE_ENUM: {
        int32_t x = *(const int32_t *)slot;
        const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(f->descriptor, x);
        return ev != NULL ? json_string(ev->name) : json_integer(x);
    }
    case PROTOBUF_C_TYPE_STRING:
        return string_to_json(*(char *const *)slot);
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *b = slot;
        char *s = base64_encode(b->data, b->len);
        json_t *v = s != NULL ? json_string(s) : NULL;
        free(s);
        return v;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *sub = *(ProtobufCMessage *const *)slot;
        return sub != NULL ? message_to_json(sub) : json_object();
    }
    }
    return NULL;
}

/* Whether the JSON mapping shows the field: proto3 defaults are left out,
 * a set oneof member never is. */
static bool field_present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    const char *base = (const char *)m, *slot = base + f->offset;

    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        return *(const uint32_t *)(base + f->quantifier_offset) == f->id;
    if (f->label == PROTOBUF_C_LABEL_REPEATED)
        return *(const size_t *)(base + f->quantifier_offset) > 0;
    if (f->label == PROTOBUF_C_LABEL_REQUIRED)
        return true;
    if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_STRING &&
        f->type != PROTOBUF_C_TYPE_MESSAGE)
        return *(const protobuf_c_boolean *)(base + f->quantifier_offset);

    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)slot;
        return s != NULL && (f->label == PROTOBUF_C_LABEL_OPTIONAL || s[0] != '\0');
    }
    case PROTOBUF_C_TYPE_MESSAGE:
        return *(ProtobufCMessage *const *)slot != NULL;
    case PROTOBUF_C_TYPE_BYTES:
        return ((const ProtobufCBinaryData *)slot)->len > 0;
    case PROTOBUF_C_TYPE_FLOAT:
        return *(const float *)slot != 0;
    case PROTOBUF_C_TYPE_DOUBLE:
        return *(const double *)slot != 0;
    default: {
        size_t size = elem_size(f->type);
        return size == 8 ? *(const uint64_t *)slot != 0 : *(const uint32_t *)slot != 0;
    }
    }
}

/* Keys in the descriptor's order, which protobuf-c keeps by field number. */
static json_t *message_to_json(const ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    const char *base = (const char *)m;
    json_t *obj = json_object(), *v;
    char *key;

    if (obj == NULL)
        return NULL;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (!field_present(m, f))
            continue;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            const char *arr = *(char *const *)(base + f->offset);
            size_t n = *(const size_t *)(base + f->quantifier_offset);
            if ((v = json_array()) == NULL)
                goto fail;
            for (size_t j = 0; j < n; j++) {
                if (json_array_append_new(v, value_to_json(f, arr + j * elem_size(f->type)))) {
                    json_decref(v);
                    goto fail;
                }
            }
        } else if ((v = value_to_json(f, base + f->offset)) == NULL) {
            goto fail;
        }
        if ((key = json_name(f->name)) == NULL) {
            json_decref(v);
            goto fail;
        }
        int rc = json_object_set_new(obj, key, v); /* takes v, even on failure */
        free(key);
        if (rc != 0)
            goto fail;
    }
    return obj;

fail:
    json_decref(obj);
    return NULL;
}

char *tw_pbjson_to_json(const ProtobufCMessage *m)
{
    json_t *obj;
    char *s;

    if (m == NULL || (obj = message_to_json(m)) == NULL)
        return NULL;
    s = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(obj);
    return s;
}
