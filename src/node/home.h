/* home.h: the node's home directory and identity file (internal to
 * src/node; the layout is documented in node.h). */
#ifndef PM_NODE_HOME_H
#define PM_NODE_HOME_H

#include <stddef.h>
#include <stdint.h>

#include "node/node.h"

#define HOME_PEERS_MAX 16
#define HOME_ADDR_LEN 262   /* "[ipv6]:port" or a 253-byte name + port */

struct home_peer {
    uint64_t id;            /* 0 when unknown (a seed URL address) */
    char addr[HOME_ADDR_LEN];
};

/* Contents of identity.json. */
struct home_identity {
    enum node_role role;
    uint64_t node_id;
    uint64_t mesh_id;
    char name[64];
    char cluster[64];
    char listen[HOME_ADDR_LEN];
    char advertise[HOME_ADDR_LEN];
    char nats_host[256];
    uint16_t nats_ports[5];          /* client, cluster, gateway, leaf, http */
    uint8_t secret[32];
    int has_secret;
    struct home_peer peers[HOME_PEERS_MAX]; /* whom to dial at start */
    int n_peers;
    char nats_url[512];              /* client with --nats only */
};

/* Paths under HOME; OUT gets HOME/LEAF. -PM_ETOOBIG if it does not fit. */
int home_path(char *out, size_t out_len, const char *home, const char *leaf);

/* mkdir -p HOME with mode 0700 (an existing HOME is chmod'ed 0700). */
int home_create(const char *home);

/* 1 if HOME/identity.json exists, else 0. */
int home_is_setup(const char *home);

/* Write identity.json atomically (temp file, fsync, rename, fsync dir),
 * mode 0600. */
int home_identity_write(const char *home, const struct home_identity *id);

/* Read identity.json. -PM_ENOTFOUND absent, -PM_ECORRUPT malformed. */
int home_identity_read(const char *home, struct home_identity *id);

/* Write BYTES to HOME/LEAF atomically with MODE (same procedure). */
int home_write_file(const char *home, const char *leaf, const void *bytes,
                    size_t len, unsigned mode);

/* Rename HOME/FROM to HOME/TO (replacing TO); DURABLE: and make the rename
 * durable (directory fsync). -PM_ENOTFOUND if FROM is absent. */
int home_rename_file(const char *home, const char *from, const char *to,
                     int durable);
/* Make the directory entries of HOME durable (fsync of the directory). */
int home_sync(const char *home);

/* Secret text form: base64url without padding (the seed URL's). OUT needs
 * 44 bytes. */
void home_secret_encode(const uint8_t secret[32], char out[44]);
int home_secret_decode(const char *text, uint8_t secret[32]);

/* Write one error line into ERR (if not NULL) and return CODE. */
int home_fail(char *err, size_t err_len, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
