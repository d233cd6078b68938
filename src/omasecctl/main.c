/* omasecctl: administration of an omasec deployment (store, keys, users,
 * CPM addresses, CPNS entities, policy, audit). */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "ctl.h"
#include "omasec/buf.h"
#include "omasec/crypto.h"
#include "omasec/error.h"
#include "omasec/util.h"

static const char usage[] =
    "usage: omasecctl [--data DIR] [--store URL] COMMAND [ARGS]\n"
    "\n"
    "Administer an omasec deployment: the store, the master key, the development\n"
    "PKI, users, CPM Addresses, CPNS entities, policy and the audit log.\n"
    "\n"
    "Options:\n"
    "  -d, --data DIR        data directory (default: ./var)\n"
    "  -s, --store URL       store (default: sqlite:DIR/omasec.db)\n"
    "      --password-stdin  read passwords as one line from stdin (no prompt)\n"
    "  -h, --help            this help\n"
    "\n"
    "Commands:\n"
    "  init                     create DIR/omasec.db, DIR/master.key and a development\n"
    "                           PKI in DIR/pki (never overwrites existing data)\n"
    "  status                   show what DIR holds\n"
    "  check                    store integrity check, and every sealed secret opens\n"
    "  user add NAME            add a user (password from stdin or prompt)\n"
    "  user del NAME            delete a user with its addresses and entities\n"
    "  user passwd NAME         set a user's password\n"
    "  user list                list users\n"
    "  user set NAME FLAG on|off  FLAG: require-tls, encrypt-messages, disabled\n"
    "  address add USER URI     allocate a CPM Address (e.g. sip:alice@example.com)\n"
    "  address del USER URI     release it\n"
    "  address list [USER]      list allocated addresses\n"
    "  entity list [USER]       list CPNS entities (PNEs and PN Gateways)\n"
    "  entity revoke ENTITY_ID  revoke an entity's EUKey\n"
    "  policy get|set|del|list  show or change policy (e.g. digest.realm)\n"
    "  audit [--limit N]        show the newest audit events (default 50)\n"
    "  pki issue NAME [--san LIST] [--client]\n"
    "                           issue DIR/pki/NAME.crt + NAME.key from the development CA\n"
    "                           (LIST: DNS:x,IP:y,URI:z; default server+client use)\n"
    "\n"
    "Exit status: 0 on success, 1 on error (one line on stderr), 2 on usage error.\n";

int ctl_fail(const char *fmt, ...)
{
    va_list ap;

    (void)fputs("omasecctl: ", stderr);
    va_start(ap, fmt);
    (void)vfprintf(stderr, fmt, ap);
    va_end(ap);
    (void)fputc('\n', stderr);
    return 1;
}

int ctl_fail_rc(int rc, const char *what)
{
    return ctl_fail("%s: %s (%s)", what, osec_error_msg(), osec_strerror(rc));
}

int ctl_open(struct ctl *c, bool need_master)
{
    int rc;

    if (need_master && !c->m) {
        rc = osec_master_load(c->master_path, &c->m);
        if (rc < 0)
            return ctl_fail_rc(rc, "cannot load master key (run 'omasecctl init'?)");
    }
    if (!c->st) {
        if (access(c->data, F_OK) != 0 && strncmp(c->store_url, "sqlite:", 7) == 0)
            return ctl_fail("%s: no such data directory (run 'omasecctl --data %s init')",
                            c->data, c->data);
        rc = osec_store_open(c->store_url, &c->st);
        if (rc < 0)
            return ctl_fail_rc(rc, "cannot open store");
    }
    return 0;
}

void ctl_close(struct ctl *c)
{
    osec_store_close(&c->st);
    osec_master_free(&c->m);
}

int ctl_audit(struct ctl *c, const char *event, const char *subject, const char *detail)
{
    struct osec_store_audit a;
    int rc;

    memset(&a, 0, sizeof(a));
    (void)osec_strlcpy(a.event, event, sizeof(a.event));
    (void)osec_snprintf(a.actor, sizeof(a.actor), "omasecctl uid=%u", (unsigned)getuid());
    (void)osec_strlcpy(a.subject, subject ? subject : "", sizeof(a.subject));
    (void)osec_strlcpy(a.detail, detail ? detail : "", sizeof(a.detail));
    rc = osec_store_audit_add(c->st, &a);
    if (rc < 0)
        return ctl_fail_rc(rc, "cannot write audit event");
    return 0;
}

static int read_line(FILE *f, char *buf, size_t len)
{
    size_t n;

    if (!fgets(buf, (int)len, f))
        return -1;
    n = strlen(buf);
    if (n > 0 && buf[n - 1] == '\n')
        buf[--n] = '\0';
    else if (!feof(f))
        return -2; /* longer than the buffer */
    if (n > 0 && buf[n - 1] == '\r')
        buf[--n] = '\0';
    return 0;
}

static int prompt_noecho(const char *prompt, char *buf, size_t len)
{
    struct termios old, noecho;
    int rc;

    (void)fprintf(stderr, "%s", prompt);
    if (tcgetattr(STDIN_FILENO, &old) != 0)
        return -1;
    noecho = old;
    noecho.c_lflag &= ~(tcflag_t)ECHO;
    (void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &noecho);
    rc = read_line(stdin, buf, len);
    (void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
    (void)fputc('\n', stderr);
    return rc;
}

int ctl_read_password(struct ctl *c, const char *prompt, bool confirm, char *buf, size_t len)
{
    char again[CTL_PW_BUF];
    int rc;

    if (c->password_stdin || !isatty(STDIN_FILENO)) {
        rc = read_line(stdin, buf, len);
        if (rc == -2)
            return ctl_fail("password too long");
        return rc < 0 ? ctl_fail("no password on stdin") : 0;
    }
    if (prompt_noecho(prompt, buf, len) < 0)
        return ctl_fail("cannot read password");
    if (confirm) {
        rc = prompt_noecho("Retype password: ", again, sizeof(again));
        if (rc < 0 || strcmp(buf, again) != 0) {
            osec_wipe(again, sizeof(again));
            osec_wipe(buf, len);
            return ctl_fail("passwords do not match");
        }
        osec_wipe(again, sizeof(again));
    }
    return 0;
}

static const struct {
    const char *name;
    int (*fn)(struct ctl *, int, char **);
} commands[] = {
    { "init", cmd_init },     { "status", cmd_status }, { "user", cmd_user },
    { "address", cmd_address }, { "entity", cmd_entity }, { "audit", cmd_audit },
    { "policy", cmd_policy }, { "pki", cmd_pki }, { "check", cmd_check },
};

static int set_paths(struct ctl *c, const char *store)
{
    if (osec_snprintf(c->master_path, sizeof(c->master_path), "%s/master.key", c->data) < 0 ||
        osec_snprintf(c->pki_dir, sizeof(c->pki_dir), "%s/pki", c->data) < 0)
        return ctl_fail("--data path too long");
    if (store)
        return osec_strlcpy(c->store_url, store, sizeof(c->store_url)) < 0
                   ? ctl_fail("--store URL too long") : 0;
    if (osec_snprintf(c->store_url, sizeof(c->store_url), "sqlite:%s/omasec.db", c->data) < 0)
        return ctl_fail("--data path too long");
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "data", required_argument, NULL, 'd' },
        { "store", required_argument, NULL, 's' },
        { "password-stdin", no_argument, NULL, 'P' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct ctl c;
    const char *store = NULL;
    int ch, rc = 2;

    memset(&c, 0, sizeof(c));
    c.data = "var";
    /* '+': stop at the command so its own options reach it */
    while ((ch = getopt_long(argc, argv, "+d:s:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'd': c.data = optarg; break;
        case 's': store = optarg; break;
        case 'P': c.password_stdin = true; break;
        case 'h': (void)fputs(usage, stdout); return 0;
        default: (void)fputs(usage, stderr); return 2;
        }
    }
    if (optind >= argc) {
        (void)fputs(usage, stderr);
        return 2;
    }
    if (set_paths(&c, store) != 0)
        return 1;
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(argv[optind], commands[i].name) == 0) {
            rc = commands[i].fn(&c, argc - optind - 1, argv + optind + 1);
            ctl_close(&c);
            return rc;
        }
    }
    (void)fprintf(stderr, "omasecctl: unknown command '%s' (see --help)\n", argv[optind]);
    return 2;
}
