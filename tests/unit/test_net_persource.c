/* Unit tests for the per-source connection table of lib/net (persource.c):
 * how sources are keyed (IPv4, IPv4-mapped IPv6, IPv6 /64), the limit, and
 * that counts and slots go back to nothing however connections end. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "net/net_int.h"
#include "omasec/buf.h"
#include "omasec/net.h"

static struct net_src_key key4(const char *ip)
{
    struct sockaddr_in sa;
    struct net_src_key k;

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons(1234);
    assert_int_equal(inet_pton(AF_INET, ip, &sa.sin_addr), 1);
    net_src_key_of((const struct sockaddr *)&sa, &k);
    return k;
}

static struct net_src_key key6(const char *ip)
{
    struct sockaddr_in6 sa;
    struct net_src_key k;

    memset(&sa, 0, sizeof(sa));
    sa.sin6_family = AF_INET6;
    sa.sin6_port = htons(4321);
    assert_int_equal(inet_pton(AF_INET6, ip, &sa.sin6_addr), 1);
    net_src_key_of((const struct sockaddr *)&sa, &k);
    return k;
}

static bool same(struct net_src_key a, struct net_src_key b)
{
    return a.fam == b.fam && a.v == b.v;
}

static void keys(void **state)
{
    char out[64];
    struct sockaddr_un un;
    struct net_src_key k;

    (void)state;
    assert_true(same(key4("192.0.2.1"), key6("::ffff:192.0.2.1"))); /* mapped = IPv4 */
    assert_false(same(key4("192.0.2.1"), key4("192.0.2.2")));
    assert_int_equal(key4("192.0.2.1").fam, 4);
    /* one /64 is one source, whatever the interface identifier */
    assert_true(same(key6("2001:db8:1:2::1"), key6("2001:db8:1:2:ffff:ffff:ffff:ffff")));
    assert_false(same(key6("2001:db8:1:2::1"), key6("2001:db8:1:3::1")));
    assert_int_equal(key6("2001:db8::1").fam, 6);
    /* the IPv4 address 0.0.0.1 is not the IPv6 prefix ::1 */
    assert_false(same(key4("0.0.0.1"), key6("0:0:0:1::")));
    k = key4("192.0.2.1");
    net_src_format(&k, out, sizeof(out));
    assert_string_equal(out, "192.0.2.1");
    k = key6("2001:db8:1:2:3:4:5:6");
    net_src_format(&k, out, sizeof(out));
    assert_string_equal(out, "2001:db8:1:2::/64");
    memset(&un, 0, sizeof(un));
    un.sun_family = AF_UNIX;
    net_src_key_of((const struct sockaddr *)&un, &k);
    assert_int_equal(k.fam, 0);
}

static void limit_and_release(void **state)
{
    struct net_src_table *t = NULL;
    struct net_src_key a = key4("198.51.100.7"), b = key6("2001:db8:9::1");
    size_t sources = 9, conns = 9;

    (void)state;
    assert_int_equal(net_src_new(64, &t), 0);
    for (int i = 0; i < 3; i++)
        assert_true(net_src_acquire(t, &a, 3));
    assert_false(net_src_acquire(t, &a, 3));   /* refused: nothing counted */
    assert_true(net_src_acquire(t, &b, 3));    /* another source is not affected */
    net_src_totals(t, &sources, &conns);
    assert_int_equal(sources, 2);
    assert_int_equal(conns, 4);
    net_src_release(t, &a);
    assert_true(net_src_acquire(t, &a, 3));    /* a slot came back */
    assert_true(net_src_acquire(t, &a, 0));    /* limit 0: always counted */
    for (int i = 0; i < 4; i++)
        net_src_release(t, &a);
    net_src_release(t, &b);
    net_src_totals(t, &sources, &conns);
    assert_int_equal(sources, 0);
    assert_int_equal(conns, 0);
    net_src_free(&t);
    assert_null(t);
}

/* Many sources in a small table: probe chains, and the shifting that
 * closes holes on release, must keep every count findable. */
static void many_sources(void **state)
{
    enum { N = 500 };
    struct net_src_table *t = NULL;
    struct net_src_key k[N];
    size_t sources = 0, conns = 0;
    int order[N];
    char ip[32];

    (void)state;
    assert_int_equal(net_src_new(2 * N, &t), 0);
    for (int i = 0; i < N; i++) {
        (void)osec_snprintf(ip, sizeof(ip), "10.%d.%d.%d", i % 7, i / 7 % 256, i % 251);
        k[i] = key4(ip);
        for (int j = 0; j < 2; j++)
            assert_true(net_src_acquire(t, &k[i], 2));
        order[i] = i;
    }
    for (int i = 0; i < N; i++)
        assert_false(net_src_acquire(t, &k[i], 2));
    srand(7);
    for (int i = N - 1; i > 0; i--) {
        int j = rand() % (i + 1), x = order[i];

        order[i] = order[j];
        order[j] = x;
    }
    for (int i = 0; i < N; i++) {
        net_src_release(t, &k[order[i]]);
        /* every other source still holds its full count */
        if (i % 50 == 0)
            for (int j = i + 1; j < N; j++)
                assert_false(net_src_acquire(t, &k[order[j]], 2));
        net_src_release(t, &k[order[i]]);
    }
    net_src_totals(t, &sources, &conns);
    assert_int_equal(sources, 0);
    assert_int_equal(conns, 0);
    net_src_free(&t);
}

/* The public wrapper cpm-sipd uses: the same counts by socket address, a
 * limit changed on reload, refusals counted in the stats. */
static void public_api(void **state)
{
    struct osec_net_srclimit *t = NULL;
    struct osec_net_stats st;
    struct sockaddr_in a, b;

    (void)state;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    assert_int_equal(inet_pton(AF_INET, "203.0.113.5", &a.sin_addr), 1);
    b = a;
    b.sin_port = htons(999); /* another port: the same source */
    assert_int_equal(osec_net_srclimit_new(16, 2, NULL, &t), 0);
    assert_true(osec_net_srclimit_acquire(t, (struct sockaddr *)&a));
    assert_true(osec_net_srclimit_acquire(t, (struct sockaddr *)&b));
    assert_false(osec_net_srclimit_acquire(t, (struct sockaddr *)&a));
    osec_net_srclimit_set(t, 3);
    assert_true(osec_net_srclimit_acquire(t, (struct sockaddr *)&a));
    memset(&st, 0, sizeof(st));
    osec_net_srclimit_stats(t, &st);
    assert_int_equal(st.refused_source, 1);
    assert_int_equal(st.sources, 1);
    for (int i = 0; i < 3; i++)
        osec_net_srclimit_release(t, (struct sockaddr *)&a);
    osec_net_srclimit_stats(t, &st);
    assert_int_equal(st.sources, 0);
    osec_net_srclimit_free(&t);
    assert_null(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(keys),
        cmocka_unit_test(limit_and_release),
        cmocka_unit_test(many_sources),
        cmocka_unit_test(public_api),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
