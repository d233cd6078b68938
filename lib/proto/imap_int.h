/* Internals shared by lib/proto/imap_*.c: character classes (RFC 3501
 * formal syntax) and small helpers the parser, the argument helpers and
 * the writer must agree on. */
#ifndef OMASEC_IMAP_INT_H
#define OMASEC_IMAP_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "omasec/buf.h"
#include "omasec/imap.h"

#define IC_ATOM 0x01u  /* ATOM-CHAR */
#define IC_ASTR 0x02u  /* ASTRING-CHAR: ATOM-CHAR / "]" */
#define IC_TAG 0x04u   /* tag: ASTRING-CHAR except "+" */
#define IC_LIST 0x08u  /* list-char: ATOM-CHAR / "%" / "*" / "]" */
#define IC_TEXT 0x10u  /* TEXT-CHAR: %x01-7F except CR, LF */
#define IC_DIGIT 0x20u
#define IC_SEQ 0x40u   /* DIGIT ":" "," "*" "$" */
#define IC_B64 0x80u   /* ALPHA DIGIT "+" "/" "=" */

extern const uint8_t osec_imap_cc[256];

static inline bool ic_is(uint8_t c, unsigned cls)
{
    return (osec_imap_cc[c] & cls) != 0;
}

/* Every byte of s in cls (false for an empty s). */
bool osec_imap_all(struct osec_slice s, unsigned cls);
/* ASCII case-insensitive equality with a C string. */
bool osec_imap_ci(struct osec_slice s, const char *word);
/* Strict decimal 1*DIGIT <= max (no sign, no spaces). */
bool osec_imap_num(struct osec_slice s, uint64_t max, uint64_t *out);
/* Unix time of y-m-d 00:00 UTC (valid date assumed). */
int64_t osec_imap_days(int y, int m, int d);
/* Month from "Jan".."Dec" (any case): 1..12, or 0. */
int osec_imap_month(struct osec_slice s);
extern const char *const osec_imap_months[12];
/* Valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
bool osec_imap_utf8_ok(struct osec_slice s);

/* An atom-class node (ATOM, NUMBER, SEQSET, NIL). */
bool osec_imap_atomish(const struct osec_imap_arg *a);
/* Add one flag atom to f (system flag bit or keyword). */
int osec_imap_flag_add(const struct osec_imap_arg *a, struct osec_imap_flags *f);

/* Sequence-set syntax check without recording an error. */
bool osec_imap_seq_valid(struct osec_slice s, unsigned flags);

/* ---- the line lexer shared by framing (count only) and tree building ---- */

enum { IMAP_P_TAG = 0, IMAP_P_NAME, IMAP_P_ARGS };
enum { IMAP_S_AFTER = 0, IMAP_S_NEED, IMAP_S_OPEN };

struct imap_lex {
    const uint8_t *base;        /* start of the command */
    struct osec_imap_cmd *out;  /* NULL: count and check only */
    size_t max_nodes, arena_cap;
    unsigned max_depth;
    /* state carried from line to line (saved in the scan between calls) */
    uint8_t phase, state, name, uid;
    unsigned depth;
    size_t nodes, arena, tag_len, name_len;
    /* tree building only */
    uint32_t open[OSEC_IMAP_DEPTH_MAX + 1];
    uint32_t last[OSEC_IMAP_DEPTH_MAX + 1];
    /* result of the last line: a literal marker ends it */
    bool lit, lit_nonsync;
    uint64_t lit_len;
    /* error */
    int code;
    const char *why;
};

void osec_imap_lex_init(struct imap_lex *lx, const uint8_t *base, struct osec_imap_cmd *cmd,
                        const struct osec_imap_limits *lim, bool build);
/* Lex the line base[off .. off+n) (CRLF excluded). */
int osec_imap_lex_line(struct imap_lex *lx, size_t off, size_t n);

/* Record an argument error with a static reason and return EPARSE. */
#define IMAP_BAD(...) OSEC_BAIL(OSEC_EPARSE, "imap: " __VA_ARGS__)

#endif
