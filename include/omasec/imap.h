/* Zero-copy, strict, incremental IMAP4rev1 command parser and response
 * writer (RFC 3501, RFC 4314 ACL, RFC 4315 UIDPLUS, RFC 2342 NAMESPACE,
 * RFC 2177 IDLE, RFC 3691 UNSELECT, RFC 5464 METADATA, RFC 7162 CONDSTORE
 * basics, RFC 7888 LITERAL+) for cpm-msgstored.
 *
 * Parsing.  The input is the connection's contiguous receive buffer,
 * starting at the first byte of a command.  osec_imap_parse frames one
 * command (tag, name, arguments, literals) and fills a struct osec_imap_cmd
 * whose arguments are a flat pre-order tree of struct osec_imap_arg.  Values
 * are slices into the input (which must stay unchanged while the command is
 * used), except quoted strings holding escapes (\" or \\): those are decoded
 * into the caller's arena.  Nothing is allocated and nothing recurses: a
 * 10,000-deep parenthesis bomb costs one counter.
 *
 * Results of osec_imap_parse:
 *   OSEC_OK (0)             a whole command; *consumed = its length.
 *   OSEC_IMAP_INCOMPLETE    (1) more input needed; call again with the same
 *                           bytes plus more (ideally once the buffer holds
 *                           scan->need bytes).
 *   OSEC_IMAP_NEED_CONT     (2) the command reached a synchronizing literal
 *                           {n}: scan->lit_size = n (already checked against
 *                           the limits), cmd->tag and cmd->name are set.
 *                           The server sends "+ Ready" (or refuses: tagged
 *                           NO, then drop osec_imap_scan_abort() bytes) and
 *                           calls again when bytes arrive.  Returned once per
 *                           literal: later calls return INCOMPLETE until the
 *                           data is in.  When the literal bytes are already
 *                           buffered (a whole command parsed at once) there
 *                           is no NEED_CONT.
 *   < 0                     the command is invalid.  cmd->err_* says what to
 *                           answer: "<tag> BAD|NO [code] text" (cmd->tag, or
 *                           "*" when cmd->tag is empty).  err_text is a static
 *                           string that never echoes input.  Then drop
 *                           cmd->err_skip bytes and parse the next command;
 *                           err_skip == 0 means framing is lost: answer,
 *                           then close the connection.
 * INCOMPLETE and NEED_CONT are positive: test `rc != OSEC_OK`, not `rc < 0`.
 *
 * Errors:
 *   OSEC_EPARSE   BAD   malformed: bad tag, missing command name, bad
 *                       character in an atom (8-bit, CTL), unterminated or
 *                       badly escaped quoted string, NUL in a quoted string
 *                       or a literal, bad literal marker, unbalanced
 *                       parentheses, bare LF, double or trailing spaces
 *   OSEC_EBOUNDS  BAD   line or command text over max_line (err_skip 0),
 *                       more than max_args arguments, nesting deeper than
 *                       max_depth, arena too small
 *   OSEC_EBOUNDS  NO    [TOOBIG] literal over its limit, reported as soon as
 *                       the literal marker is seen (before any data)
 *
 * Decisions (stricter than RFC 3501 allows, or where it leaves a choice):
 *   - CRLF only; exactly one SP between arguments; no space after "(" or
 *     before ")"; no trailing space.
 *   - Quoted strings accept 8-bit bytes (UTF-8 passwords and SEARCH CHARSET
 *     UTF-8 text from real clients) but never NUL; only \" and \\ escapes.
 *   - Literals may not contain NUL (RFC 3501 CHAR8); literal8 ~{n} is not
 *     supported.
 *   - Atoms are ATOM-CHAR plus "]", "%", "*" (astrings, LIST patterns,
 *     sequence sets) and a leading "\" (flags).  "[" opens a section that
 *     may hold spaces, one level of parentheses and quoted strings, closed
 *     by "]", so BODY.PEEK[HEADER.FIELDS (From Subject)]<0.1024> is one
 *     atom; osec_imap_fetch_parse checks its inside.
 *   - max_line bounds all command bytes except APPEND's literals (the
 *     literals of other commands count against max_line too); max_literal
 *     bounds the sum of the literals of one APPEND, so the receive buffer
 *     never needs more than max_line + max_literal bytes.
 *
 * Incremental input: keep a struct osec_imap_scan per connection, zeroed
 * (OSEC_IMAP_SCAN_INIT).  Every line is lexed once as it arrives (a client
 * that trickles bytes costs linear CPU); the tree is built once when the
 * command is complete.  The parser resets the scan after every complete
 * or failed command.  A NULL scan parses from scratch every call.
 */
#ifndef OMASEC_IMAP_H
#define OMASEC_IMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "omasec/buf.h"

#define OSEC_IMAP_INCOMPLETE 1
#define OSEC_IMAP_NEED_CONT 2
#define OSEC_IMAP_DEPTH_MAX 64 /* hard cap on limits.max_depth */

struct osec_imap_limits {
    size_t max_line;      /* command bytes outside APPEND literals (65536) */
    uint64_t max_literal; /* sum of literal bytes of one APPEND (64 MiB) */
    size_t max_args;      /* argument nodes incl. lists (1024) */
    unsigned max_depth;   /* parenthesis nesting (32, <= OSEC_IMAP_DEPTH_MAX) */
};

#define OSEC_IMAP_LIMITS_DEFAULT { 65536, (uint64_t)64 << 20, 1024, 32 }

enum osec_imap_cmd_name {
    OSEC_IMAP_CMD_UNKNOWN = 0,
    OSEC_IMAP_CMD_CAPABILITY,
    OSEC_IMAP_CMD_NOOP,
    OSEC_IMAP_CMD_LOGOUT,
    OSEC_IMAP_CMD_STARTTLS,
    OSEC_IMAP_CMD_AUTHENTICATE,
    OSEC_IMAP_CMD_LOGIN,
    OSEC_IMAP_CMD_SELECT,
    OSEC_IMAP_CMD_EXAMINE,
    OSEC_IMAP_CMD_CREATE,
    OSEC_IMAP_CMD_DELETE,
    OSEC_IMAP_CMD_RENAME,
    OSEC_IMAP_CMD_SUBSCRIBE,
    OSEC_IMAP_CMD_UNSUBSCRIBE,
    OSEC_IMAP_CMD_LIST,
    OSEC_IMAP_CMD_LSUB,
    OSEC_IMAP_CMD_STATUS,
    OSEC_IMAP_CMD_APPEND,
    OSEC_IMAP_CMD_CHECK,
    OSEC_IMAP_CMD_CLOSE,
    OSEC_IMAP_CMD_EXPUNGE,
    OSEC_IMAP_CMD_SEARCH,
    OSEC_IMAP_CMD_FETCH,
    OSEC_IMAP_CMD_STORE,
    OSEC_IMAP_CMD_COPY,
    OSEC_IMAP_CMD_UID_FETCH,
    OSEC_IMAP_CMD_UID_STORE,
    OSEC_IMAP_CMD_UID_COPY,
    OSEC_IMAP_CMD_UID_SEARCH,
    OSEC_IMAP_CMD_UID_EXPUNGE,
    OSEC_IMAP_CMD_NAMESPACE,
    OSEC_IMAP_CMD_IDLE,
    OSEC_IMAP_CMD_UNSELECT,
    OSEC_IMAP_CMD_GETACL,
    OSEC_IMAP_CMD_SETACL,
    OSEC_IMAP_CMD_DELETEACL,
    OSEC_IMAP_CMD_LISTRIGHTS,
    OSEC_IMAP_CMD_MYRIGHTS,
    OSEC_IMAP_CMD_GETMETADATA,
    OSEC_IMAP_CMD_SETMETADATA,
    OSEC_IMAP_CMD_ENABLE,
    OSEC_IMAP_CMD_ID,
    OSEC_IMAP_CMD_COUNT_
};

enum osec_imap_type {
    OSEC_IMAP_ATOM = 1, /* any other atom (val = its text) */
    OSEC_IMAP_NUMBER,   /* all digits, <= 2^63-1: num; val = its text */
    OSEC_IMAP_SEQSET,   /* valid sequence set that is not a plain number ("1:*", "$") */
    OSEC_IMAP_NIL,      /* the atom NIL (any case); still a valid astring */
    OSEC_IMAP_QUOTED,   /* val = decoded contents */
    OSEC_IMAP_LITERAL,  /* val = the literal bytes; nonsync for {n+} */
    OSEC_IMAP_LIST      /* count elements, the first at index + 1 */
};

struct osec_imap_arg {
    enum osec_imap_type type;
    bool nonsync;          /* LITERAL: sent as {n+} */
    uint32_t count;        /* LIST: number of direct elements */
    uint32_t next;         /* index of the next sibling in nodes[], 0 if last */
    struct osec_slice val; /* text/bytes (empty for LIST) */
    uint64_t num;          /* NUMBER: value */
};

/* Storage and result of one parsed command.  Prepare it once per connection
 * (or per worker) with osec_imap_cmd_init; every parse overwrites the
 * result fields.  An arena of max_line bytes is always large enough. */
struct osec_imap_cmd {
    struct osec_imap_arg *nodes; /* storage (caller's) */
    size_t nodes_cap;
    uint8_t *arena;
    size_t arena_cap;

    struct osec_slice tag;       /* empty if not (validly) parsed */
    enum osec_imap_cmd_name name;
    bool uid;                    /* "UID <command>" */
    struct osec_slice name_text; /* command name as sent ("uid fetch") */
    size_t argc;                 /* top-level arguments (after the name) */
    size_t nnodes;               /* nodes used */
    size_t arena_used;
    size_t len;                  /* bytes of the command incl. final CRLF */

    bool err_bad;                /* on error: BAD (true) or NO (false) */
    const char *err_code;        /* response code without [], or NULL */
    const char *err_text;        /* static text */
    size_t err_skip;             /* bytes to drop; 0: answer and close */
};

struct osec_imap_scan {
    size_t need;        /* on INCOMPLETE: buffered length worth calling again at */
    uint64_t lit_size;  /* on NEED_CONT: announced literal size */
    /* internal: framing progress (offsets into the buffer) */
    size_t seg, scanned, text, nodes, arena, tag_len, name_len, cont_at;
    uint64_t lit_total, lit_len;
    unsigned depth;
    uint8_t phase, state, name, lit_pending, lit_nonsync, uid;
};

#define OSEC_IMAP_SCAN_INIT { 0 }

void osec_imap_cmd_init(struct osec_imap_cmd *cmd, struct osec_imap_arg *nodes, size_t nodes_cap,
                        uint8_t *arena, size_t arena_cap);

/* Frame and parse one command from data[0..len).  lim NULL = defaults, scan
 * NULL = no incremental state.  See the top of this file. */
int osec_imap_parse(const uint8_t *data, size_t len, const struct osec_imap_limits *lim,
                    struct osec_imap_scan *scan, struct osec_imap_cmd *cmd, size_t *consumed);

/* After NEED_CONT, when the server refuses the literal: the number of bytes
 * to drop (the command up to the literal marker's CRLF); resets scan. */
size_t osec_imap_scan_abort(struct osec_imap_scan *scan);

/* Upper-case name ("UID FETCH"), "" for UNKNOWN. */
const char *osec_imap_cmd_str(enum osec_imap_cmd_name name);

/* Argument-count/type shape of the known commands (e.g. LOGIN: two
 * astrings; NOOP: none).  0, or OSEC_EPARSE (answer BAD). */
int osec_imap_cmd_check(const struct osec_imap_cmd *cmd);

/* ---- argument access ------------------------------------------------------- */

struct osec_imap_iter {
    const struct osec_imap_arg *nodes;
    size_t idx;  /* next element */
    size_t left; /* elements not yet returned */
};

/* Iterate the elements of list (a LIST node), or the top-level arguments
 * when list is NULL. */
void osec_imap_iter_init(struct osec_imap_iter *it, const struct osec_imap_cmd *cmd,
                         const struct osec_imap_arg *list);
const struct osec_imap_arg *osec_imap_iter_next(struct osec_imap_iter *it); /* NULL at end */
const struct osec_imap_arg *osec_imap_iter_peek(const struct osec_imap_iter *it);
/* i-th top-level argument or NULL. */
const struct osec_imap_arg *osec_imap_arg_at(const struct osec_imap_cmd *cmd, size_t i);

/* Typed views; EPARSE (no message recorded beyond the reason) if a does
 * not fit.  a may be NULL (missing argument -> EPARSE). */
int osec_imap_arg_astring(const struct osec_imap_arg *a, struct osec_slice *out);
int osec_imap_arg_string(const struct osec_imap_arg *a, struct osec_slice *out); /* quoted/literal */
int osec_imap_arg_nstring(const struct osec_imap_arg *a, struct osec_slice *out, bool *nil);
int osec_imap_arg_atom(const struct osec_imap_arg *a, struct osec_slice *out);   /* ATOM-CHARs */
/* list-mailbox: astring or an atom with % * wildcards */
int osec_imap_arg_pattern(const struct osec_imap_arg *a, struct osec_slice *out);
int osec_imap_arg_number(const struct osec_imap_arg *a, uint64_t max, uint64_t *out);
/* Atom equal to word, ASCII case-insensitive. */
bool osec_imap_arg_is(const struct osec_imap_arg *a, const char *word);

/* ---- sequence sets, numbers, dates ------------------------------------------ */

#define OSEC_IMAP_SEQ_DOLLAR 0x1u /* accept "$" (RFC 5182 SEARCHRES) */

/* seq-number ":" / "," grammar; numbers 1..2^32-1 or "*".  0 / EPARSE. */
int osec_imap_seqset_check(struct osec_slice s, unsigned flags);

/* Walk a checked set: 1 and [*lo, *hi] (lo <= hi, "*" = star), 0 at end,
 * EPARSE on malformed input or "$". */
struct osec_imap_seqiter {
    struct osec_slice s;
    size_t pos;
};
void osec_imap_seqiter_init(struct osec_imap_seqiter *it, struct osec_slice s);
int osec_imap_seqiter_next(struct osec_imap_seqiter *it, uint32_t star, uint32_t *lo, uint32_t *hi);
bool osec_imap_seqset_contains(struct osec_slice s, uint32_t star, uint32_t n);

/* date = dd-Mon-yyyy (1 or 2 day digits, month case-insensitive),
 * optionally in double quotes already removed by the caller; *t = Unix
 * time of that day's 00:00 UTC.  Years 1900..9999. */
int osec_imap_date_parse(struct osec_slice s, int64_t *t);
/* date-time = "dd-Mon-yyyy hh:mm:ss +zzzz" (contents of the quoted string;
 * day is " d" or "dd"); *t = Unix time (UTC). */
int osec_imap_datetime_parse(struct osec_slice s, int64_t *t);

/* ---- flags, STORE, APPEND ---------------------------------------------------- */

#define OSEC_IMAP_FLAG_ANSWERED 0x01u
#define OSEC_IMAP_FLAG_FLAGGED 0x02u
#define OSEC_IMAP_FLAG_DELETED 0x04u
#define OSEC_IMAP_FLAG_SEEN 0x08u
#define OSEC_IMAP_FLAG_DRAFT 0x10u
#define OSEC_IMAP_FLAG_RECENT 0x20u /* responses only; refused in input */
#define OSEC_IMAP_KEYWORDS_MAX 32

struct osec_imap_flags {
    uint32_t system;  /* OSEC_IMAP_FLAG_* */
    size_t nkeywords;
    struct osec_slice keyword[OSEC_IMAP_KEYWORDS_MAX]; /* atoms, as sent */
};

/* A flag list "(\Seen $Forwarded)" (LIST node).  Unknown \flags and
 * \Recent are refused (EPARSE); more than OSEC_IMAP_KEYWORDS_MAX keywords
 * is EBOUNDS. */
int osec_imap_flags_parse(const struct osec_imap_cmd *cmd, const struct osec_imap_arg *list,
                          struct osec_imap_flags *out);

enum osec_imap_store_op { OSEC_IMAP_STORE_SET = 0, OSEC_IMAP_STORE_ADD, OSEC_IMAP_STORE_REMOVE };

struct osec_imap_store {
    struct osec_slice seqset;
    bool has_unchangedsince; /* CONDSTORE (UNCHANGEDSINCE n) */
    uint64_t unchangedsince;
    enum osec_imap_store_op op;
    bool silent;
    struct osec_imap_flags flags;
};

/* STORE / UID STORE arguments: seqset [(UNCHANGEDSINCE n)] item flags,
 * flags as a list or as one or more flag atoms. */
int osec_imap_store_parse(const struct osec_imap_cmd *cmd, struct osec_imap_store *out);

struct osec_imap_append {
    struct osec_slice mailbox; /* raw astring: decode with osec_imap_mailbox_decode */
    struct osec_imap_flags flags;
    bool has_date;
    int64_t date;
    struct osec_slice message; /* the literal */
};

/* APPEND mailbox [flag-list] [date-time] literal (one message). */
int osec_imap_append_parse(const struct osec_imap_cmd *cmd, struct osec_imap_append *out);

/* ---- FETCH ----------------------------------------------------------------- */

#define OSEC_IMAP_FETCH_FLAGS 0x001u
#define OSEC_IMAP_FETCH_UID 0x002u
#define OSEC_IMAP_FETCH_INTERNALDATE 0x004u
#define OSEC_IMAP_FETCH_RFC822_SIZE 0x008u
#define OSEC_IMAP_FETCH_ENVELOPE 0x010u
#define OSEC_IMAP_FETCH_BODY 0x020u          /* non-extensible BODYSTRUCTURE */
#define OSEC_IMAP_FETCH_BODYSTRUCTURE 0x040u
#define OSEC_IMAP_FETCH_RFC822 0x080u
#define OSEC_IMAP_FETCH_RFC822_HEADER 0x100u
#define OSEC_IMAP_FETCH_RFC822_TEXT 0x200u
#define OSEC_IMAP_FETCH_MODSEQ 0x400u
#define OSEC_IMAP_PART_MAX 16
#define OSEC_IMAP_SECTIONS_MAX 16

enum osec_imap_sect_text {
    OSEC_IMAP_SECT_WHOLE = 0,      /* BODY[] or BODY[1.2] */
    OSEC_IMAP_SECT_HEADER,
    OSEC_IMAP_SECT_HEADER_FIELDS,
    OSEC_IMAP_SECT_HEADER_FIELDS_NOT,
    OSEC_IMAP_SECT_TEXT,
    OSEC_IMAP_SECT_MIME            /* only after a part number */
};

struct osec_imap_section {
    bool peek;                         /* BODY.PEEK */
    size_t nparts;
    uint32_t part[OSEC_IMAP_PART_MAX]; /* 1.2.3 */
    enum osec_imap_sect_text text;
    struct osec_slice fields;          /* HEADER.FIELDS: names inside ( ) */
    bool partial;                      /* <offset.length> */
    uint32_t offset, length;
    struct osec_slice spec;            /* text between [ and ], for the reply */
};

struct osec_imap_fetch {
    struct osec_slice seqset;
    uint32_t items; /* OSEC_IMAP_FETCH_* (macros ALL/FAST/FULL expanded) */
    size_t nsections;
    struct osec_imap_section section[OSEC_IMAP_SECTIONS_MAX];
    bool has_changedsince; /* CONDSTORE (CHANGEDSINCE n): also sets MODSEQ */
    uint64_t changedsince;
};

/* FETCH / UID FETCH: seqset (att | macro | (att ...)) [(CHANGEDSINCE n)].
 * UID FETCH always includes OSEC_IMAP_FETCH_UID (RFC 3501 6.4.8). */
int osec_imap_fetch_parse(const struct osec_imap_cmd *cmd, struct osec_imap_fetch *out);
/* Next header field name of sect->fields (start with *pos = 0): 1 and
 * *name, 0 at end. */
int osec_imap_section_field_next(const struct osec_imap_section *sect, size_t *pos,
                                 struct osec_slice *name);

/* ---- SEARCH ---------------------------------------------------------------- */

enum osec_imap_skey {
    OSEC_IMAP_SK_AND = 0, /* children: first..next chain (a list or the top level) */
    OSEC_IMAP_SK_OR,      /* two children */
    OSEC_IMAP_SK_NOT,     /* one child */
    OSEC_IMAP_SK_ALL, OSEC_IMAP_SK_ANSWERED, OSEC_IMAP_SK_DELETED, OSEC_IMAP_SK_FLAGGED,
    OSEC_IMAP_SK_SEEN, OSEC_IMAP_SK_UNSEEN, OSEC_IMAP_SK_NEW, OSEC_IMAP_SK_OLD,
    OSEC_IMAP_SK_RECENT, OSEC_IMAP_SK_DRAFT, OSEC_IMAP_SK_UNDELETED, OSEC_IMAP_SK_UNANSWERED,
    OSEC_IMAP_SK_UNFLAGGED, OSEC_IMAP_SK_UNDRAFT,
    OSEC_IMAP_SK_KEYWORD, OSEC_IMAP_SK_UNKEYWORD,                 /* s1 */
    OSEC_IMAP_SK_BEFORE, OSEC_IMAP_SK_ON, OSEC_IMAP_SK_SINCE,      /* date */
    OSEC_IMAP_SK_SENTBEFORE, OSEC_IMAP_SK_SENTON, OSEC_IMAP_SK_SENTSINCE,
    OSEC_IMAP_SK_FROM, OSEC_IMAP_SK_TO, OSEC_IMAP_SK_CC, OSEC_IMAP_SK_BCC,
    OSEC_IMAP_SK_SUBJECT, OSEC_IMAP_SK_BODY, OSEC_IMAP_SK_TEXT,  /* s1 */
    OSEC_IMAP_SK_HEADER,                                          /* s1 name, s2 value */
    OSEC_IMAP_SK_LARGER, OSEC_IMAP_SK_SMALLER,                    /* num */
    OSEC_IMAP_SK_UID,                                             /* s1 seqset */
    OSEC_IMAP_SK_SEQSET,                                          /* s1 seqset */
    OSEC_IMAP_SK_MODSEQ                                           /* num */
};

#define OSEC_IMAP_SEARCH_MAX 128

struct osec_imap_snode {
    enum osec_imap_skey key;
    uint32_t first;             /* AND/OR/NOT: first child index */
    uint32_t next;              /* next sibling, 0 if last */
    struct osec_slice s1, s2;
    uint64_t num;
    int64_t date;               /* 00:00 UTC of the day */
};

struct osec_imap_search {
    struct osec_slice charset;  /* empty if none was given */
    size_t count;
    struct osec_imap_snode node[OSEC_IMAP_SEARCH_MAX]; /* node[0]: the top-level AND */
};

/* SEARCH / UID SEARCH [CHARSET astring] keys.  Built without recursion;
 * more than OSEC_IMAP_SEARCH_MAX nodes is EBOUNDS, malformed keys EPARSE. */
int osec_imap_search_parse(const struct osec_imap_cmd *cmd, struct osec_imap_search *out);

/* ---- mailbox names (RFC 3501 5.1.3 modified UTF-7) --------------------------- */

#define OSEC_IMAP_MAILBOX_MAX 1024 /* bytes of a decoded (UTF-8) name */

/* Strict modified UTF-7 -> UTF-8 (appended to out).  Refused: raw 8-bit or
 * control bytes, bad base64, non-zero pad bits, unpaired surrogates,
 * encoded printable ASCII, encoded controls, empty names.  "INBOX" in any
 * case becomes "INBOX". */
int osec_imap_mailbox_decode(struct osec_slice raw, struct osec_buf *out);
/* UTF-8 (validated) -> modified UTF-7. */
int osec_imap_mailbox_encode(struct osec_slice utf8, struct osec_buf *out);

/* ---- ACL (RFC 4314) ---------------------------------------------------------- */

/* Rights bits in the order of the RFC 4314 letters "lrswipkxtea", then
 * digits 0-9 (bits 11..20).  Obsolete "c" means k+x, "d" means e+t
 * (RFC 4314 2.1.1, the group that keeps "c" for mailbox deletion). */
#define OSEC_IMAP_RIGHT_L (1u << 0)
#define OSEC_IMAP_RIGHT_R (1u << 1)
#define OSEC_IMAP_RIGHT_S (1u << 2)
#define OSEC_IMAP_RIGHT_W (1u << 3)
#define OSEC_IMAP_RIGHT_I (1u << 4)
#define OSEC_IMAP_RIGHT_P (1u << 5)
#define OSEC_IMAP_RIGHT_K (1u << 6)
#define OSEC_IMAP_RIGHT_X (1u << 7)
#define OSEC_IMAP_RIGHT_T (1u << 8)
#define OSEC_IMAP_RIGHT_E (1u << 9)
#define OSEC_IMAP_RIGHT_A (1u << 10)

/* A rights string, for SETACL optionally prefixed by "+" (*mod = 1) or "-"
 * (*mod = -1; else 0).  mod may be NULL: then a prefix is EPARSE.  An
 * empty string is valid (no rights). */
int osec_imap_rights_parse(struct osec_slice s, int *mod, uint32_t *rights);
/* Canonical rights string (letters in RFC order, "c"/"d" added when any
 * member right is present, as RFC 4314 2.1.1 requires in replies). */
int osec_imap_rights_write(struct osec_buf *out, uint32_t rights);
/* identifier: non-empty, no CTL/8-bit; a leading "-" means negative rights
 * (*negative, and *id without it). */
int osec_imap_identifier_parse(struct osec_slice s, bool *negative, struct osec_slice *id);

struct osec_imap_setacl {
    struct osec_slice mailbox, identifier;
    bool negative;
    int mod;
    uint32_t rights;
};

/* SETACL mailbox identifier rights (DELETEACL/LISTRIGHTS: rights unused). */
int osec_imap_setacl_parse(const struct osec_imap_cmd *cmd, struct osec_imap_setacl *out);

/* ---- METADATA (RFC 5464) ------------------------------------------------------- */

#define OSEC_IMAP_ENTRIES_MAX 32

/* "/private/..." or "/shared/..." with at least one more component; no "*"
 * "%", CTL, "//" or trailing "/"; valid UTF-8.  0 / EPARSE. */
int osec_imap_metadata_entry_check(struct osec_slice entry);

struct osec_imap_getmetadata {
    struct osec_slice mailbox;     /* raw astring ("" = server entries) */
    bool has_maxsize;
    uint64_t maxsize;
    int depth;                     /* 0, 1, or -1 for "infinity" */
    size_t nentries;
    struct osec_slice entry[OSEC_IMAP_ENTRIES_MAX];
};

int osec_imap_getmetadata_parse(const struct osec_imap_cmd *cmd, struct osec_imap_getmetadata *out);

struct osec_imap_setmetadata {
    struct osec_slice mailbox;
    size_t nentries;
    struct {
        struct osec_slice entry, value;
        bool nil;                  /* NIL: remove the entry */
    } item[OSEC_IMAP_ENTRIES_MAX];
};

int osec_imap_setmetadata_parse(const struct osec_imap_cmd *cmd, struct osec_imap_setmetadata *out);

/* ---- continuation lines (AUTHENTICATE, IDLE) ------------------------------------ */

/* One CRLF-terminated line of at most max bytes (without CRLF): OSEC_OK,
 * *line and *consumed; OSEC_IMAP_INCOMPLETE; OSEC_EBOUNDS when longer;
 * OSEC_EPARSE on bare LF, CR or NUL inside, or 8-bit bytes. */
int osec_imap_line_parse(const uint8_t *data, size_t len, size_t max, struct osec_slice *line,
                         size_t *consumed);
/* 0 if line is "DONE" (any case), else OSEC_EPARSE. */
int osec_imap_idle_done(struct osec_slice line);
/* AUTHENTICATE response line: "*" sets *cancel; otherwise strict base64
 * decoded into out (use a secret buffer: it carries the password). */
int osec_imap_auth_response(struct osec_slice line, struct osec_buf *out, bool *cancel);

/* ---- writer ------------------------------------------------------------------- */
/* Every writer leaves out unchanged on error.  Text that must stay on one
 * line (resp-text, codes) is refused with OSEC_EINVAL if it holds CR, LF,
 * NUL or (codes) "]". */

enum osec_imap_status {
    OSEC_IMAP_OK = 0, OSEC_IMAP_NO, OSEC_IMAP_BAD, OSEC_IMAP_BYE, OSEC_IMAP_PREAUTH
};

/* "<tag> OK|NO|BAD [code] text\r\n"; code may be NULL.  tag must be a valid
 * tag; BYE/PREAUTH are untagged only. */
int osec_imap_write_tagged(struct osec_buf *out, struct osec_slice tag, enum osec_imap_status st,
                           const char *code, const char *text);
/* "* OK|NO|BAD|BYE|PREAUTH [code] text\r\n" */
int osec_imap_write_status(struct osec_buf *out, enum osec_imap_status st, const char *code,
                           const char *text);
/* "* <line>\r\n" for server data built by the caller ("3 EXISTS"). */
int osec_imap_write_untagged(struct osec_buf *out, const char *line);
/* "+ text\r\n" (text may be "" or base64). */
int osec_imap_write_continue(struct osec_buf *out, const char *text);

/* Values: quoted when every byte is 7-bit TEXT-CHAR (and short), else a
 * {n} literal; astring as an atom when possible (never "NIL"). */
int osec_imap_write_string(struct osec_buf *out, struct osec_slice s);
int osec_imap_write_astring(struct osec_buf *out, struct osec_slice s);
int osec_imap_write_nstring(struct osec_buf *out, const struct osec_slice *s); /* NULL: NIL */
/* UTF-8 mailbox name, encoded to modified UTF-7, as an astring. */
int osec_imap_write_mailbox(struct osec_buf *out, struct osec_slice utf8);
/* "(\Seen kw)" */
int osec_imap_write_flags(struct osec_buf *out, const struct osec_imap_flags *f);
/* "\"dd-Mon-yyyy hh:mm:ss +0000\"" */
int osec_imap_write_datetime(struct osec_buf *out, int64_t t);

/* "* LIST (\Noselect \HasChildren) "/" name\r\n"; kind "LIST" or "LSUB";
 * flags: a space-separated list of \atoms or NULL; delim 0 writes NIL. */
int osec_imap_write_list(struct osec_buf *out, const char *kind, const char *flags, char delim,
                         struct osec_slice utf8_name);

/* FETCH response: begin, items, end.  On an error the response is
 * removed from out entirely. */
struct osec_imap_fetchw {
    struct osec_buf *out;
    size_t start;
    bool first;
    bool failed;
};

int osec_imap_fetchw_begin(struct osec_imap_fetchw *w, struct osec_buf *out, uint32_t seq);
/* "UID 5", "RFC822.SIZE 1234", "MODSEQ (12)" (modseq as a list) */
int osec_imap_fetchw_number(struct osec_imap_fetchw *w, const char *item, uint64_t v);
int osec_imap_fetchw_flags(struct osec_imap_fetchw *w, const struct osec_imap_flags *f);
int osec_imap_fetchw_internaldate(struct osec_imap_fetchw *w, int64_t t);
/* item SP string (quoted or literal), e.g. RFC822.HEADER */
int osec_imap_fetchw_string(struct osec_imap_fetchw *w, const char *item, struct osec_slice data);
/* BODY[spec]<origin> SP data, as requested by sect (never ".PEEK") */
int osec_imap_fetchw_section(struct osec_imap_fetchw *w, const struct osec_imap_section *sect,
                             struct osec_slice data);
/* item SP raw, for ENVELOPE/BODYSTRUCTURE text the caller built with the
 * value writers above (written as is). */
int osec_imap_fetchw_raw(struct osec_imap_fetchw *w, const char *item, struct osec_slice raw);
int osec_imap_fetchw_end(struct osec_imap_fetchw *w);

#endif
