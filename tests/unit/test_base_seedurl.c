/* test_base_seedurl.c: seed URL and host:port parsing and formatting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "base/seedurl.h"

/* 32 bytes 0x00..0x1f, encoded with base64url, no padding. */
#define SECRET "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"

static void test_secret_round_trip(void **state)
{
    (void)state;
    uint8_t bin[PM_SEED_SECRET_BYTES];
    for (int i = 0; i < PM_SEED_SECRET_BYTES; i++)
        bin[i] = (uint8_t)i;
    char text[PM_SEED_SECRET_TEXT_LEN + 1];
    assert_int_equal(pm_seed_secret_format(bin, text, sizeof text),
                     PM_SEED_SECRET_TEXT_LEN);
    assert_string_equal(text, SECRET);
    uint8_t back[PM_SEED_SECRET_BYTES];
    assert_int_equal(pm_seed_secret_parse(text, strlen(text), back, NULL, 0), 0);
    assert_memory_equal(back, bin, sizeof bin);
    assert_int_equal(pm_seed_secret_format(bin, text, PM_SEED_SECRET_TEXT_LEN),
                     -PM_ETOOBIG);
}

static void test_secret_rejects(void **state)
{
    (void)state;
    uint8_t bin[PM_SEED_SECRET_BYTES];
    char why[PM_SEEDURL_WHY_LEN];
    /* too short */
    assert_int_equal(pm_seed_secret_parse("AAEC", 4, bin, why, sizeof why),
                     -PM_EINVAL);
    assert_non_null(strstr(why, "43 base64url characters"));
    /* standard base64 alphabet ('+', '/') is not the URL-safe one */
    char bad[] = SECRET;
    bad[5] = '+';
    assert_int_equal(pm_seed_secret_parse(bad, strlen(bad), bin, why, sizeof why),
                     -PM_EINVAL);
    assert_non_null(strstr(why, "not canonical base64url"));
    /* non-zero spare bits in the last character: decodes, but is not the
     * canonical spelling ('f' = 31 has its low 2 bits set, 'c' = 28 not) */
    char spare[] = SECRET;
    spare[42] = 'f';
    assert_int_equal(pm_seed_secret_parse(spare, 43, bin, why, sizeof why),
                     -PM_EINVAL);
    spare[42] = 'c';
    assert_int_equal(pm_seed_secret_parse(spare, 43, bin, why, sizeof why), 0);
}

static void test_port_parse(void **state)
{
    (void)state;
    uint16_t p = 0;
    assert_int_equal(pm_port_parse("1", 1, &p), 0);
    assert_int_equal(p, 1);
    assert_int_equal(pm_port_parse("65535", 5, &p), 0);
    assert_int_equal(p, 65535);
    assert_int_equal(pm_port_parse("0", 1, &p), -PM_ERANGE);
    assert_int_equal(pm_port_parse("65536", 5, &p), -PM_ERANGE);
    assert_int_equal(pm_port_parse("999999", 6, &p), -PM_ERANGE);
    assert_int_equal(pm_port_parse("080", 3, &p), -PM_EINVAL);
    assert_int_equal(pm_port_parse("+80", 3, &p), -PM_EINVAL);
    assert_int_equal(pm_port_parse("8a", 2, &p), -PM_EINVAL);
    assert_int_equal(pm_port_parse("", 0, &p), -PM_EINVAL);
}

static void hp_ok(const char *text, const char *host, int kind, int port)
{
    struct pm_hostport hp;
    char why[PM_SEEDURL_WHY_LEN] = "";
    int rc = pm_hostport_parse(text, strlen(text), &hp, why, sizeof why);
    if (rc != 0)
        fail_msg("%s: %s", text, why);
    assert_string_equal(hp.host, host);
    assert_int_equal(hp.kind, kind);
    assert_int_equal(hp.port, port);
    char back[PM_HOSTPORT_TEXT_MAX];
    assert_int_equal(pm_hostport_format(&hp, back, sizeof back), strlen(text));
    assert_string_equal(back, text);
}

static void hp_bad(const char *text, const char *expect)
{
    struct pm_hostport hp;
    char why[PM_SEEDURL_WHY_LEN] = "";
    assert_int_equal(pm_hostport_parse(text, strlen(text), &hp, why, sizeof why),
                     -PM_EINVAL);
    if (strstr(why, expect) == NULL)
        fail_msg("'%s': got '%s', want '%s'", text, why, expect);
}

static void test_hostport(void **state)
{
    (void)state;
    hp_ok("example.com:8443", "example.com", PM_HOST_NAME, 8443);
    hp_ok("n1:1", "n1", PM_HOST_NAME, 1);
    hp_ok("a-b.c-d.e:65535", "a-b.c-d.e", PM_HOST_NAME, 65535);
    hp_ok("127.0.0.1:4222", "127.0.0.1", PM_HOST_IPV4, 4222);
    hp_ok("0.0.0.0:8443", "0.0.0.0", PM_HOST_IPV4, 8443);
    hp_ok("[::1]:8443", "::1", PM_HOST_IPV6, 8443);
    hp_ok("[fe80::1:2]:9", "fe80::1:2", PM_HOST_IPV6, 9);

    hp_bad("", "empty address");
    hp_bad("host", "missing ':PORT'");
    hp_bad(":80", "missing host");
    hp_bad("host:", "missing port");
    hp_bad("host:0", "out of range");
    hp_bad("host:70000", "out of range");
    hp_bad("host:08", "leading zero");
    hp_bad("host:8x", "decimal digits");
    hp_bad("::1:80", "must be in brackets");
    hp_bad("[::1:80", "unterminated '['");
    hp_bad("[::1]80", "missing ':PORT' after ']'");
    hp_bad("[]:80", "empty IPv6");
    hp_bad("[::g]:80", "invalid IPv6");
    hp_bad("[fe80::1%eth0]:80", "zone ids");
    hp_bad("256.1.1.1:80", "invalid IPv4");
    hp_bad("1.2.3:80", "invalid IPv4");
    hp_bad("01.2.3.4:80", "invalid IPv4");
    hp_bad("a..b:80", "empty label");
    hp_bad("-a.b:80", "starts or ends with '-'");
    hp_bad("a-.b:80", "starts or ends with '-'");
    hp_bad("a_b:80", "invalid character '_'");
    hp_bad("a b:80", "invalid character 0x20");
    /* a NUL inside the given length (found by the fuzzer: "[::\0;]:1") */
    struct pm_hostport hp;
    char why[PM_SEEDURL_WHY_LEN];
    assert_int_equal(pm_hostport_parse("[::\0;]:1", 9, &hp, why, sizeof why),
                     -PM_EINVAL);
    assert_string_equal(why, "invalid character 0x00");
    assert_int_equal(pm_hostport_parse("h\0:1", 4, &hp, NULL, 0), -PM_EINVAL);
    char label[80];
    memset(label, 'x', 64);
    strcpy(label + 64, ":80");
    hp_bad(label, "longer than 63");
    char longname[300];
    for (int i = 0; i < 254; i++)
        longname[i] = (i % 2) ? '.' : 'a';
    longname[254] = 0;
    strcat(longname, ":80");
    hp_bad(longname, "longer than 253");
}

static void test_unspecified(void **state)
{
    (void)state;
    struct pm_hostport hp;
    assert_int_equal(pm_hostport_parse("0.0.0.0:1", 9, &hp, NULL, 0), 0);
    assert_true(pm_host_is_unspecified(&hp));
    assert_int_equal(pm_hostport_parse("[::]:1", 6, &hp, NULL, 0), 0);
    assert_true(pm_host_is_unspecified(&hp));
    assert_int_equal(pm_hostport_parse("[::1]:1", 7, &hp, NULL, 0), 0);
    assert_false(pm_host_is_unspecified(&hp));
    assert_int_equal(pm_hostport_parse("h:1", 3, &hp, NULL, 0), 0);
    assert_false(pm_host_is_unspecified(&hp));
}

static void url_ok(const char *text, uint32_t n_hosts)
{
    struct pm_seedurl u;
    char why[PM_SEEDURL_WHY_LEN] = "";
    if (pm_seedurl_parse(text, &u, why, sizeof why) != 0)
        fail_msg("%s: %s", text, why);
    assert_int_equal(u.n_hosts, n_hosts);
    char back[PM_SEEDURL_TEXT_MAX];
    assert_int_equal(pm_seedurl_format(&u, back, sizeof back), strlen(text));
    assert_string_equal(back, text);
}

static void url_bad(const char *text, const char *expect)
{
    struct pm_seedurl u;
    char why[PM_SEEDURL_WHY_LEN] = "";
    assert_int_equal(pm_seedurl_parse(text, &u, why, sizeof why), -PM_EINVAL);
    if (strstr(why, expect) == NULL)
        fail_msg("'%s': got '%s', want '%s'", text, why, expect);
    /* a failed parse leaves no secret behind */
    static const uint8_t zero[PM_SEED_SECRET_BYTES];
    assert_memory_equal(u.secret, zero, sizeof zero);
    /* the phrase never carries the secret */
    assert_null(strstr(why, SECRET));
}

static void test_seedurl_round_trip(void **state)
{
    (void)state;
    url_ok("pmtp://" SECRET "@127.0.0.1:8443", 1);
    url_ok("pmtp://" SECRET "@a.example:1,[::1]:2,10.0.0.3:65535", 3);
    url_ok("pmtp://" SECRET "@[2001:DB8::1]:8443", 1);

    struct pm_seedurl u;
    assert_int_equal(pm_seedurl_parse("pmtp://" SECRET "@h1:1,[::1]:2", &u,
                                      NULL, 0), 0);
    for (int i = 0; i < PM_SEED_SECRET_BYTES; i++)
        assert_int_equal(u.secret[i], i);
    assert_string_equal(u.hosts[0].host, "h1");
    assert_int_equal(u.hosts[0].port, 1);
    assert_string_equal(u.hosts[1].host, "::1");
    assert_int_equal(u.hosts[1].kind, PM_HOST_IPV6);

    /* format -> parse from a value built by hand */
    struct pm_seedurl v;
    memset(&v, 0, sizeof v);
    memset(v.secret, 0xab, sizeof v.secret);
    v.n_hosts = 2;
    strcpy(v.hosts[0].host, "seed.example");
    v.hosts[0].kind = PM_HOST_NAME;
    v.hosts[0].port = 8443;
    strcpy(v.hosts[1].host, "fd00::7");
    v.hosts[1].kind = PM_HOST_IPV6;
    v.hosts[1].port = 9443;
    char text[PM_SEEDURL_TEXT_MAX];
    assert_true(pm_seedurl_format(&v, text, sizeof text) > 0);
    struct pm_seedurl w;
    assert_int_equal(pm_seedurl_parse(text, &w, NULL, 0), 0);
    assert_memory_equal(&w, &v, sizeof v);
    assert_int_equal(pm_seedurl_format(&v, text, 20), -PM_ETOOBIG);
    v.n_hosts = 0;
    assert_int_equal(pm_seedurl_format(&v, text, sizeof text), -PM_EINVAL);
}

static void test_seedurl_max_hosts(void **state)
{
    (void)state;
    char text[PM_SEEDURL_TEXT_MAX + 64];
    int n = snprintf(text, sizeof text, "pmtp://%s@", SECRET);
    for (int i = 0; i < PM_SEED_HOSTS_MAX; i++)
        n += snprintf(text + n, sizeof text - (size_t)n, "%sh%d:%d",
                      i ? "," : "", i, 1000 + i);
    url_ok(text, PM_SEED_HOSTS_MAX);
    snprintf(text + n, sizeof text - (size_t)n, ",h99:1");
    url_bad(text, "more than 16 hosts");

    /* the longest possible URL: 16 hosts of 253 characters */
    n = snprintf(text, sizeof text, "pmtp://%s@", SECRET);
    for (int i = 0; i < PM_SEED_HOSTS_MAX; i++) {
        if (i)
            text[n++] = ',';
        for (int j = 0; j < 253; j++)
            text[n++] = (j % 2) ? '.' : (char)('a' + i);
        n += snprintf(text + n, sizeof text - (size_t)n, ":%d", 10000 + i);
    }
    assert_true(n < PM_SEEDURL_TEXT_MAX);
    url_ok(text, PM_SEED_HOSTS_MAX);
}

static void test_seedurl_rejects(void **state)
{
    (void)state;
    url_bad("", "empty seed URL");
    url_bad("http://" SECRET "@h:1", "scheme must be 'pmtp://'");
    url_bad("PMTP://" SECRET "@h:1", "scheme must be 'pmtp://'");
    url_bad(SECRET "@h:1", "must start with 'pmtp://'");
    url_bad("pmtp://" SECRET, "missing 'SECRET@'");
    url_bad("pmtp://@h:1", "empty secret");
    url_bad("pmtp://short@h:1", "43 base64url characters");
    url_bad("pmtp://" SECRET "@", "no host after '@'");
    url_bad("pmtp://" SECRET "@h:1,", "host 2: empty");
    url_bad("pmtp://" SECRET "@,h:1", "host 1: empty");
    url_bad("pmtp://" SECRET "@h:1,h:1", "host 2: same as host 1");
    url_bad("pmtp://" SECRET "@h:1,x:0", "host 2: port out of range");
    url_bad("pmtp://" SECRET "@h", "host 1: missing ':PORT'");
    url_bad("pmtp://" SECRET "@0.0.0.0:8443", "cannot be dialled");
    url_bad("pmtp://" SECRET "@[::]:8443", "cannot be dialled");
    url_bad("pmtp://" SECRET "@h:1/", "port must be decimal digits");
    url_bad("pmtp://" SECRET "@h:1@g:2", "port must be decimal digits");
    url_bad("pmtp://" SECRET "@ h:1", "invalid character 0x20");
    char huge[PM_SEEDURL_TEXT_MAX + 10];
    memset(huge, 'a', sizeof huge - 1);
    huge[sizeof huge - 1] = 0;
    memcpy(huge, "pmtp://", 7);
    url_bad(huge, "longer than");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_secret_round_trip),
        cmocka_unit_test(test_secret_rejects),
        cmocka_unit_test(test_port_parse),
        cmocka_unit_test(test_hostport),
        cmocka_unit_test(test_unspecified),
        cmocka_unit_test(test_seedurl_round_trip),
        cmocka_unit_test(test_seedurl_max_hosts),
        cmocka_unit_test(test_seedurl_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
