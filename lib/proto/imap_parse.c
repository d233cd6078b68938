/* IMAP command framing: lines and literals, incremental, strict.
 *
 * Stage 1 walks the command one segment at a time (a line, then the data
 * of the literal that ends it, then the next line ...), lexing each line
 * once as soon as its LF is in, with the lexer's state saved in the scan
 * between calls.  Limits are checked there, so a literal that is too large
 * is refused as soon as its marker arrives.  Stage 2 runs once on the
 * complete command and builds the argument tree.
 */
#include <string.h>

#include "omasec/crypto.h"
#include "omasec/error.h"
#include "proto/imap_int.h"

struct frame {
    const uint8_t *d;
    size_t len;
    struct osec_imap_limits lim;
    struct osec_imap_scan *sc;
    struct imap_lex lx;
    size_t skip;      /* on error: bytes to drop (0: close) */
    bool toobig;
};

void osec_imap_cmd_init(struct osec_imap_cmd *cmd, struct osec_imap_arg *nodes, size_t nodes_cap,
                        uint8_t *arena, size_t arena_cap)
{
    memset(cmd, 0, sizeof(*cmd));
    cmd->nodes = nodes;
    cmd->nodes_cap = nodes ? nodes_cap : 0;
    cmd->arena = arena;
    cmd->arena_cap = arena ? arena_cap : 0;
}

static void cmd_reset(struct osec_imap_cmd *c)
{
    struct osec_slice none = { NULL, 0 };

    c->tag = c->name_text = none;
    c->name = OSEC_IMAP_CMD_UNKNOWN;
    c->uid = false;
    c->argc = c->nnodes = c->arena_used = c->len = 0;
    c->err_bad = false;
    c->err_code = c->err_text = NULL;
    c->err_skip = 0;
}

static void limits_norm(const struct osec_imap_limits *in, struct osec_imap_limits *out)
{
    static const struct osec_imap_limits def = OSEC_IMAP_LIMITS_DEFAULT;

    *out = in ? *in : def;
    if (out->max_depth > OSEC_IMAP_DEPTH_MAX)
        out->max_depth = OSEC_IMAP_DEPTH_MAX;
    if (out->max_line > SIZE_MAX / 4)
        out->max_line = SIZE_MAX / 4; /* keeps the window sums below in range */
    if (out->max_literal > SIZE_MAX / 4)
        out->max_literal = SIZE_MAX / 4;
}

static void lex_load(struct imap_lex *lx, const struct osec_imap_scan *s)
{
    lx->phase = s->phase;
    lx->state = s->state;
    lx->name = s->name;
    lx->uid = s->uid;
    lx->depth = s->depth;
    lx->nodes = s->nodes;
    lx->arena = s->arena;
    lx->tag_len = s->tag_len;
    lx->name_len = s->name_len;
}

static void lex_save(struct osec_imap_scan *s, const struct imap_lex *lx)
{
    s->phase = lx->phase;
    s->state = lx->state;
    s->name = lx->name;
    s->uid = lx->uid;
    s->depth = lx->depth;
    s->nodes = lx->nodes;
    s->arena = lx->arena;
    s->tag_len = lx->tag_len;
    s->name_len = lx->name_len;
}

static int ffail(struct frame *f, int code, const char *why, size_t skip, const char *file,
                 int line)
{
    f->lx.code = code;
    f->lx.why = why;
    f->skip = skip;
    return osec_error_set(code, file, line, "imap: %s", why);
}

#define FFAIL(f, code, why, skip) return ffail((f), (code), (why), (skip), __FILE__, __LINE__)

/* Does the line end with a "{n+}" marker (the client sends its data
 * without waiting, so skipping the line does not resynchronise)? */
static bool ends_nonsync(const uint8_t *p, size_t n)
{
    size_t i = n;

    if (i < 4 || p[i - 1] != '}' || p[i - 2] != '+')
        return false;
    i -= 2;
    while (i > 0 && ic_is(p[i - 1], IC_DIGIT))
        i--;
    return i > 0 && i < n - 2 && p[i - 1] == '{';
}

/* The data of the literal whose marker ended the previous line. */
static int literal_data(struct frame *f)
{
    struct osec_imap_scan *sc = f->sc;
    size_t ds = sc->seg;

    /* a client announcing {0} also waits for the "+" before going on */
    if (f->len - ds < sc->lit_len || (f->len == ds && !sc->lit_nonsync && sc->cont_at != ds)) {
        sc->need = ds + (size_t)sc->lit_len + (sc->lit_len == 0);
        if (!sc->lit_nonsync && sc->cont_at != ds) {
            sc->cont_at = ds;
            sc->lit_size = sc->lit_len;
            return OSEC_IMAP_NEED_CONT;
        }
        return OSEC_IMAP_INCOMPLETE;
    }
    if (sc->lit_len > 0 && memchr(f->d + ds, 0, (size_t)sc->lit_len) != NULL)
        FFAIL(f, OSEC_EPARSE, "NUL in literal", 0);
    sc->seg = ds + (size_t)sc->lit_len;
    sc->scanned = sc->seg;
    sc->lit_pending = 0;
    return 0;
}

/* Find the LF of the line at sc->seg within what max_line still allows. */
static int find_lf(struct frame *f, size_t *lf)
{
    struct osec_imap_scan *sc = f->sc;
    size_t room = f->lim.max_line - sc->text + 2; /* + CRLF */
    size_t from = sc->scanned > sc->seg ? sc->scanned : sc->seg;
    size_t end = f->len - sc->seg > room ? sc->seg + room : f->len;
    const uint8_t *p = from < end ? memchr(f->d + from, '\n', end - from) : NULL;

    if (!p) {
        if (end - sc->seg >= room)
            FFAIL(f, OSEC_EBOUNDS, "Command line too long", 0);
        sc->scanned = end;
        sc->need = f->len + 1;
        return OSEC_IMAP_INCOMPLETE;
    }
    *lf = (size_t)(p - f->d);
    if (*lf == sc->seg || f->d[*lf - 1] != '\r')
        FFAIL(f, OSEC_EPARSE, "Bare LF",
              ends_nonsync(f->d + sc->seg, *lf - sc->seg) ? 0 : *lf + 1);
    return 0;
}

/* Limits of the literal announced at the end of the line [seg, lf). */
static int literal_limits(struct frame *f, size_t lf)
{
    struct osec_imap_scan *sc = f->sc;
    uint64_t n = f->lx.lit_len;
    size_t skip = f->lx.lit_nonsync ? 0 : lf + 1;

    if (f->lx.name == OSEC_IMAP_CMD_APPEND) {
        if (n > f->lim.max_literal - sc->lit_total) {
            f->toobig = true;
            FFAIL(f, OSEC_EBOUNDS, "Literal too big", skip);
        }
        sc->lit_total += n;
    } else {
        if (n > f->lim.max_line - sc->text) {
            f->toobig = true;
            FFAIL(f, OSEC_EBOUNDS, "Literal too big", skip);
        }
        sc->text += (size_t)n;
    }
    sc->lit_pending = 1;
    sc->lit_nonsync = f->lx.lit_nonsync;
    sc->lit_len = n;
    sc->seg = lf + 1;
    return 0;
}

/* One line: lex it, then either end the command or expect a literal. */
static int one_line(struct frame *f, size_t lf, size_t *total)
{
    struct osec_imap_scan *sc = f->sc;
    size_t n = lf - 1 - sc->seg;

    lex_load(&f->lx, sc);
    if (osec_imap_lex_line(&f->lx, sc->seg, n) < 0) {
        f->skip = ends_nonsync(f->d + sc->seg, n) ? 0 : lf + 1;
        return f->lx.code;
    }
    lex_save(sc, &f->lx);
    sc->text += n;
    if (f->lx.lit)
        return literal_limits(f, lf);
    if (f->lx.depth != 0)
        FFAIL(f, OSEC_EPARSE, "Unbalanced parentheses", lf + 1);
    *total = lf + 1;
    return 0;
}

static int frame_cmd(struct frame *f, size_t *total)
{
    size_t lf = 0;
    int rc;

    *total = 0;
    while (*total == 0) {
        if (f->sc->lit_pending) {
            rc = literal_data(f);
            if (rc != 0)
                return rc;
            continue;
        }
        rc = find_lf(f, &lf);
        if (rc != 0)
            return rc;
        OSEC_GUARD(one_line(f, lf, total));
    }
    return 0;
}

/* Stage 2: the complete, checked command into cmd's nodes and arena. */
static int build(const uint8_t *d, size_t total, const struct osec_imap_limits *lim,
                 struct osec_imap_cmd *cmd)
{
    struct imap_lex lx;
    size_t pos = 0;

    osec_imap_lex_init(&lx, d, cmd, lim, true);
    for (;;) {
        const uint8_t *p = memchr(d + pos, '\n', total - pos);
        size_t lf;

        OSEC_ENSURE(p != NULL, OSEC_EINTERNAL, "imap: framed command lost its line end");
        lf = (size_t)(p - d);
        OSEC_ENSURE(osec_imap_lex_line(&lx, pos, lf - 1 - pos) == 0, OSEC_EINTERNAL,
                    "imap: framed command failed to re-lex");
        if (!lx.lit)
            return 0;
        pos = lf + 1 + (size_t)lx.lit_len;
    }
}

static void finish(struct frame *f, struct osec_imap_cmd *cmd, int rc)
{
    const struct osec_imap_scan *sc = f->sc;
    /* the lexer ran on this call (and knows more) unless it is still zero */
    bool lx = f->lx.tag_len != 0;
    size_t tag_len = lx ? f->lx.tag_len : sc->tag_len;

    if (tag_len > 0) {
        cmd->tag = osec_slice_make(f->d, tag_len);
        cmd->name = (enum osec_imap_cmd_name)(lx ? f->lx.name : sc->name);
        cmd->uid = (lx ? f->lx.uid : sc->uid) != 0;
        cmd->name_text = osec_slice_make(f->d + tag_len + 1, lx ? f->lx.name_len : sc->name_len);
    }
    if (rc < 0) {
        cmd->err_bad = !f->toobig;
        cmd->err_code = f->toobig ? "TOOBIG" : NULL;
        cmd->err_text = f->lx.why ? f->lx.why : "Invalid command";
        cmd->err_skip = f->skip;
    }
}

int osec_imap_parse(const uint8_t *data, size_t len, const struct osec_imap_limits *lim,
                    struct osec_imap_scan *scan, struct osec_imap_cmd *cmd, size_t *consumed)
{
    struct osec_imap_scan local = OSEC_IMAP_SCAN_INIT;
    struct frame f;
    size_t total = 0;
    int rc;

    OSEC_ENSURE(cmd && consumed && (data || len == 0), OSEC_EINVAL, "imap: bad arguments");
    *consumed = 0;
    cmd_reset(cmd);
    memset(&f, 0, sizeof(f));
    f.d = data;
    f.len = len;
    limits_norm(lim, &f.lim);
    f.sc = scan ? scan : &local;
    if (f.sc->seg > len || f.sc->scanned > len || f.sc->text > f.lim.max_line ||
        f.sc->lit_total > f.lim.max_literal)
        *f.sc = (struct osec_imap_scan)OSEC_IMAP_SCAN_INIT; /* state of another buffer */
    osec_imap_lex_init(&f.lx, data, cmd, &f.lim, false);
    rc = frame_cmd(&f, &total);
    if (rc == 0)
        rc = build(data, total, &f.lim, cmd);
    finish(&f, cmd, rc);
    if (rc == 0) {
        cmd->len = total;
        *consumed = total;
    }
    if (rc != OSEC_IMAP_INCOMPLETE && rc != OSEC_IMAP_NEED_CONT)
        *f.sc = (struct osec_imap_scan)OSEC_IMAP_SCAN_INIT;
    return rc;
}

size_t osec_imap_scan_abort(struct osec_imap_scan *scan)
{
    size_t n = scan->lit_pending ? scan->seg : 0;

    *scan = (struct osec_imap_scan)OSEC_IMAP_SCAN_INIT;
    return n;
}

/* ---- command names ---------------------------------------------------------- */

static const char *const cmd_names[OSEC_IMAP_CMD_COUNT_] = {
    "", "CAPABILITY", "NOOP", "LOGOUT", "STARTTLS", "AUTHENTICATE", "LOGIN", "SELECT",
    "EXAMINE", "CREATE", "DELETE", "RENAME", "SUBSCRIBE", "UNSUBSCRIBE", "LIST", "LSUB",
    "STATUS", "APPEND", "CHECK", "CLOSE", "EXPUNGE", "SEARCH", "FETCH", "STORE", "COPY",
    "UID FETCH", "UID STORE", "UID COPY", "UID SEARCH", "UID EXPUNGE", "NAMESPACE", "IDLE",
    "UNSELECT", "GETACL", "SETACL", "DELETEACL", "LISTRIGHTS", "MYRIGHTS", "GETMETADATA",
    "SETMETADATA", "ENABLE", "ID",
};

const char *osec_imap_cmd_str(enum osec_imap_cmd_name name)
{
    if ((unsigned)name >= OSEC_IMAP_CMD_COUNT_)
        return "";
    return cmd_names[name];
}

/* ---- continuation lines ------------------------------------------------------ */

int osec_imap_line_parse(const uint8_t *data, size_t len, size_t max, struct osec_slice *line,
                         size_t *consumed)
{
    size_t win = len > max + 2 ? max + 2 : len;
    const uint8_t *p;
    size_t lf;

    OSEC_ENSURE(line && consumed && (data || len == 0) && max < SIZE_MAX - 2, OSEC_EINVAL,
                "imap: bad arguments");
    *consumed = 0;
    p = win ? memchr(data, '\n', win) : NULL;
    if (!p) {
        OSEC_ENSURE(win < max + 2, OSEC_EBOUNDS, "imap: continuation line too long");
        return OSEC_IMAP_INCOMPLETE;
    }
    lf = (size_t)(p - data);
    OSEC_ENSURE(lf > 0 && data[lf - 1] == '\r', OSEC_EPARSE, "imap: bare LF");
    for (size_t i = 0; i + 1 < lf; i++)
        OSEC_ENSURE(ic_is(data[i], IC_TEXT), OSEC_EPARSE, "imap: bad byte in line");
    *line = osec_slice_make(data, lf - 1);
    *consumed = lf + 1;
    return 0;
}

int osec_imap_idle_done(struct osec_slice line)
{
    OSEC_ENSURE(osec_imap_ci(line, "DONE"), OSEC_EPARSE, "imap: expected DONE");
    return 0;
}

int osec_imap_auth_response(struct osec_slice line, struct osec_buf *out, bool *cancel)
{
    OSEC_ENSURE(out && cancel, OSEC_EINVAL, "imap: bad arguments");
    *cancel = line.len == 1 && line.ptr[0] == '*';
    if (*cancel || line.len == 0)
        return 0;
    OSEC_ENSURE(osec_imap_all(line, IC_B64), OSEC_EPARSE, "imap: bad base64 response");
    OSEC_ENSURE(osec_b64_decode(line, out) == 0, OSEC_EPARSE, "imap: bad base64 response");
    return 0;
}
