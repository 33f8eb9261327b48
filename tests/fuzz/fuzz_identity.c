/* fuzz_identity.c: libFuzzer target for the file a node loads from its
 * home at every start and every CLI call: identity.json (the node's own
 * settings: id, role, addresses, the mesh secret, the peers to dial).
 * settings.json is written by the FSM and never parsed by pmesh, so this
 * is the settings file that untrusted (edited, damaged) bytes can reach.
 *
 * Each input becomes HOME/identity.json in a scratch home; then
 *  - home_identity_read() either fails with -PM_ECORRUPT (or -PM_EIO for
 *    a read error) or returns an identity;
 *  - an identity it returned, written back with home_identity_write() and
 *    read again, comes back identical (the loader and the writer agree);
 *  - node_home_info() on the same home agrees with it.
 * `make fuzz-identity` runs it (mk/chaos.mk); `make check` replays the
 * committed corpus tests/fuzz/corpus/identity. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"
#include "node/home.h"
#include "node/node.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char home_a[64], home_b[64];

static void homes(void)
{
    if (home_a[0])
        return;
    snprintf(home_a, sizeof home_a, "/tmp/pmesh-fuzz-identity-XXXXXX");
    snprintf(home_b, sizeof home_b, "/tmp/pmesh-fuzz-identity-XXXXXX");
    if (!mkdtemp(home_a) || !mkdtemp(home_b))
        abort();
}

static void cleanup(void)
{
    char p[128];
    snprintf(p, sizeof p, "%s/identity.json", home_a);
    unlink(p);
    snprintf(p, sizeof p, "%s/identity.json", home_b);
    unlink(p);
    rmdir(home_a);
    rmdir(home_b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!home_a[0]) {
        homes();
        atexit(cleanup);
    }
    char path[128];
    snprintf(path, sizeof path, "%s/identity.json", home_a);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0)
        abort();

    struct home_identity id, back;
    int rc = home_identity_read(home_a, &id);
    struct node_home_info info;
    char err[NODE_ERR_LEN] = "";
    int irc = node_home_info(home_a, &info, err, sizeof err);
    if (rc != 0) {
        if (rc != -PM_ECORRUPT && rc != -PM_EIO)
            abort();
        if (irc != rc || err[0] == '\0')
            abort();
        return 0;
    }
    if (irc != 0 || info.role != id.role || info.node_id != id.node_id ||
        strcmp(info.name, id.name) != 0 || info.has_secret != id.has_secret)
        abort();
    if (id.n_peers < 0 || id.n_peers > HOME_PEERS_MAX)
        abort();
    if (home_identity_write(home_b, &id) != 0)
        abort();
    memset(&back, 0x5a, sizeof back);
    if (home_identity_read(home_b, &back) != 0)
        abort();
    if (back.role != id.role || back.node_id != id.node_id ||
        back.mesh_id != id.mesh_id || strcmp(back.name, id.name) ||
        strcmp(back.cluster, id.cluster) || strcmp(back.listen, id.listen) ||
        strcmp(back.advertise, id.advertise) ||
        strcmp(back.nats_host, id.nats_host) ||
        strcmp(back.nats_url, id.nats_url) ||
        memcmp(back.nats_ports, id.nats_ports, sizeof id.nats_ports) ||
        back.has_secret != id.has_secret ||
        (id.has_secret && memcmp(back.secret, id.secret, 32)) ||
        back.n_peers != id.n_peers)
        abort();
    for (int i = 0; i < id.n_peers; i++)
        if (back.peers[i].id != id.peers[i].id ||
            strcmp(back.peers[i].addr, id.peers[i].addr))
            abort();
    return 0;
}
