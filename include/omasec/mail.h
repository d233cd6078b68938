/* Stored messages of the CPM Message Storage Server: sealing at rest,
 * zero-copy RFC 5322/MIME views for FETCH and SEARCH, the CPM layout
 * (Message/CPIM objects in Conversation and Session History folders) and
 * S/MIME protection before transport.  docs/message-store.md.
 *
 * Messages are untrusted input (anyone allowed to APPEND wrote them): every
 * view here is bounded, never recurses deeper than OSEC_MAIL_DEPTH_MAX and
 * never reads outside the message.
 */
#ifndef OMASEC_MAIL_H
#define OMASEC_MAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>

#include "omasec/buf.h"
#include "omasec/imap.h"
#include "omasec/seal.h"

#define OSEC_MAIL_DEPTH_MAX 8  /* MIME nesting followed for sections and BODYSTRUCTURE */
#define OSEC_MAIL_PARTS_MAX 64 /* parts of one multipart looked at */

/* ---- sealing at rest ---------------------------------------------------------- */

/* Seal a message body under the mailbox owner's key (purpose "msg/<owner>",
 * derived from the master key); the AAD binds the mailbox id and the UID,
 * so a body moved to another row, mailbox or owner does not open.  Appends
 * the sealed value to out. */
int osec_mail_seal(const struct osec_master *m, const char *owner, int64_t mailbox_id,
                   uint32_t uid, const uint8_t *msg, size_t len, struct osec_buf *out);
/* Appends the plaintext to out; OSEC_EINTEGRITY for a modified, moved or
 * truncated body (report it: never serve it). */
int osec_mail_unseal(const struct osec_master *m, const char *owner, int64_t mailbox_id,
                     uint32_t uid, const uint8_t *sealed, size_t len, struct osec_buf *out);

/* ---- RFC 5322 header and body --------------------------------------------------- */

/* Header (through the empty line, CRLF or LF) and body.  A message without
 * an empty line is all header. */
void osec_mail_split(struct osec_slice msg, struct osec_slice *header, struct osec_slice *body);

/* Header fields one by one: start with *pos = 0; 1 with the name, the raw
 * value (after the colon, folding kept) and the whole field incl. its line
 * end; 0 at the end.  Malformed lines (no colon) are skipped. */
int osec_mail_field_next(struct osec_slice header, size_t *pos, struct osec_slice *name,
                         struct osec_slice *value, struct osec_slice *field);
/* First field called name (case-insensitive): 1 and *value, or 0. */
int osec_mail_header_get(struct osec_slice header, const char *name, struct osec_slice *value);
/* Value unfolded (CRLF removed) and trimmed, appended to out. */
int osec_mail_unfold(struct osec_slice value, struct osec_buf *out);

/* BODY[HEADER.FIELDS (...)] / .NOT: the matching (or other) fields, then
 * the empty line. */
int osec_mail_header_filter(struct osec_slice header, const struct osec_imap_section *sect,
                            bool not, struct osec_buf *out);

/* ASCII case-insensitive substring search (SEARCH text keys). */
bool osec_mail_contains(struct osec_slice hay, struct osec_slice needle);

/* RFC 5322 date-time (Date: field) -> Unix time; EPARSE if malformed. */
int osec_mail_date_parse(struct osec_slice value, int64_t *t);

/* ENVELOPE (RFC 3501 7.4.2), the parenthesised list, appended to out. */
int osec_mail_envelope(struct osec_slice header, struct osec_buf *out);
/* BODYSTRUCTURE (extensible) or BODY (not) of msg, appended to out. */
int osec_mail_bodystructure(struct osec_slice msg, bool extensible, struct osec_buf *out);

/* The bytes BODY[section] names, without the partial <o.l> (the caller
 * applies it).  Data that has to be built (HEADER.FIELDS) goes to tmp and
 * *data points there; otherwise *data is a slice of msg.  A part that does
 * not exist is an empty result (RFC 3501 leaves it to the server; we answer
 * NIL-like empty strings rather than failing the whole FETCH). */
int osec_mail_section(struct osec_slice msg, const struct osec_imap_section *sect,
                      struct osec_slice *data, struct osec_buf *tmp);

/* ---- SEARCH ----------------------------------------------------------------------- */

struct osec_mail_search_msg {
    uint32_t seq, uid;
    uint32_t flags;               /* OSEC_IMAP_FLAG_* */
    struct osec_slice keywords;   /* space-separated */
    int64_t internaldate;
    uint64_t size, modseq;
    uint32_t max_seq, max_uid;    /* for "*" */
    bool has_text;                /* text below is valid */
    struct osec_slice text;       /* the whole message */
};

/* Does any key of s need the message text (headers or body)? */
bool osec_mail_search_needs_text(const struct osec_imap_search *s);
/* Evaluate; keys needing the text are false when has_text is false. */
bool osec_mail_search_match(const struct osec_imap_search *s, const struct osec_mail_search_msg *m);

/* ---- CPM layout (OMA CPM Message Storage, DESIGN 5) ----------------------------------- */

#define OSEC_MAIL_CPM_ROOT "Conversations"

struct osec_mail_cpm {
    bool cpim;                          /* Content-Type: Message/CPIM */
    bool session_info;                  /* Content-Type: Application/X-CPM-Session */
    struct osec_slice conversation_id;  /* empty if absent */
    struct osec_slice contribution_id;
    struct osec_slice imdn_message_id;
};

/* The CPM header fields of a stored object. */
int osec_mail_cpm_parse(struct osec_slice msg, struct osec_mail_cpm *out);
/* Where an object belongs: Conversation History folder
 * "Conversations/<Conversation-ID>", or with a Contribution-ID the Session
 * History folder below it.  EPARSE for IDs that cannot be folder names
 * ("/", controls, over 256 bytes). */
int osec_mail_cpm_folder(const struct osec_mail_cpm *ids, bool session, struct osec_buf *out);
/* The CPM rule for APPEND: into a folder under Conversations/ only CPM
 * objects (Message/CPIM or session info) whose Conversation-ID (and
 * Contribution-ID, for a Session History folder) name that folder.  Other
 * folders take anything.  0 or OSEC_EPOLICY with a reason. */
int osec_mail_cpm_check(const char *folder, const struct osec_mail_cpm *ids, char *reason,
                        size_t len);

/* ---- S/MIME message protection (seed 001, last paragraph) --------------------------------- */

/* The principal's message as an S/MIME object (RFC 8551) for recipient:
 * signed by the server (CMS SignedData, signer_cert/signer_key, so the
 * client can check it came from its store unchanged), then encrypted with
 * integrity (CMS AuthEnvelopedData, AES-256-GCM) for recipient.  Appends an
 * RFC 5322 message (Content-Type application/pkcs7-mime;
 * smime-type=authEnveloped-data, base64) to out; the original header fields
 * Message-ID, Date, From, To, Subject are copied to the outer header only
 * when copy_header is true. */
int osec_mail_smime_protect(struct osec_slice msg, X509 *recipient, X509 *signer_cert,
                            EVP_PKEY *signer_key, bool copy_header, struct osec_buf *out);
/* Parse a PEM certificate registered by a user and check it against the
 * CA file (chain, validity, usage for email protection or client auth);
 * principal_out (may be NULL) gets its principal (see
 * osec_tls_peer_principal's rule).  *out must be X509_free()d. */
int osec_mail_smime_cert_load(struct osec_slice pem, const char *ca_file, X509 **out,
                              char *principal_out, size_t principal_len);

#endif
