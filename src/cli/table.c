/* table.c: every option and command of `pmesh`, with the text that
 * --help prints. docs/pmesh.1 says the same in troff; keep them in step. */
#include "cli/cli.h"

const struct cli_optdef cli_opts[CLI_OPT__COUNT] = {
    [CLI_OPT_HOME] = {"home", "DIR",
                      "node home (default $PMESH_HOME, else ~/.pmesh)"},
    [CLI_OPT_HELP] = {"help", 0, "print this help and exit"},
    [CLI_OPT_JSON] = {"json", 0,
                      "print JSON: the node's reply (indented on a "
                      "terminal)"},
    [CLI_OPT_TIMEOUT] = {"timeout", "SECONDS",
                         "give up after SECONDS (1-3600; default 10, for "
                         "setup join/replica 30)"},
    [CLI_OPT_CONSISTENT] = {"consistent", 0,
                            "read through the leader (linearizable)"},
    [CLI_OPT_FROM] = {"from", "N", "first log index to show"},
    [CLI_OPT_TO] = {"to", "N", "last log index to show / replay up to"},
    [CLI_OPT_NAME] = {"name", "NAME",
                      "member name, [A-Za-z0-9_-]{1,63} (default: host name)"},
    [CLI_OPT_CLUSTER] = {"cluster", "LABEL",
                         "NATS cluster (region) label (default: the seed's, "
                         "or \"default\")"},
    [CLI_OPT_LISTEN] = {"listen", "HOST:PORT",
                        "peer listener (default 0.0.0.0:8443)"},
    [CLI_OPT_ADVERTISE] = {"advertise", "HOST:PORT",
                           "address other nodes dial (default: the listen "
                           "address with a routable host)"},
    [CLI_OPT_NATS_HOST] = {"nats-host", "HOST",
                           "host NATS binds and advertises (default: the "
                           "advertised host)"},
    [CLI_OPT_NATS_PORT] = {"nats-port", "PORT",
                           "NATS client port (default 4222)"},
    [CLI_OPT_NATS_CLUSTER_PORT] = {"nats-cluster-port", "PORT",
                                   "NATS cluster port (default PORT+1)"},
    [CLI_OPT_NATS_GATEWAY_PORT] = {"nats-gateway-port", "PORT",
                                   "NATS gateway port (default PORT+2)"},
    [CLI_OPT_NATS_LEAF_PORT] = {"nats-leaf-port", "PORT",
                                "NATS leaf-node port (default PORT+3)"},
    [CLI_OPT_NATS_HTTP_PORT] = {"nats-http-port", "PORT",
                                "NATS monitoring port (default PORT+4)"},
    [CLI_OPT_SECRET] = {"secret", "SECRET",
                        "mesh secret: 43 base64url characters (default: 32 "
                        "random bytes)"},
    [CLI_OPT_YES] = {"yes", 0, "ask nothing; take defaults for what is not "
                               "given"},
    [CLI_OPT_NATS_URL] = {"nats", "URL",
                          "client of a plain NATS server at URL "
                          "(nats://[user:pass@]host[:port]), no mesh"},
    [CLI_OPT_LOG_STDERR] = {"log-stderr", 0,
                            "diagnostic lines to stderr instead of "
                            "HOME/pmesh.log"},
    [CLI_OPT_NO_NATS] = {"no-nats", 0,
                         "do not run nats-server (you run NATS yourself "
                         "from HOME/nats.conf)"},
};

#define COMMON CLI_BIT(CLI_OPT_HOME) | CLI_BIT(CLI_OPT_HELP)
#define REQ COMMON | CLI_BIT(CLI_OPT_TIMEOUT)
#define DATA REQ | CLI_BIT(CLI_OPT_JSON)
#define SERVER_FLAGS                                                         \
    CLI_BIT(CLI_OPT_NAME) | CLI_BIT(CLI_OPT_CLUSTER) |                       \
        CLI_BIT(CLI_OPT_LISTEN) | CLI_BIT(CLI_OPT_ADVERTISE) |               \
        CLI_BIT(CLI_OPT_NATS_HOST) | CLI_BIT(CLI_OPT_NATS_PORT) |            \
        CLI_BIT(CLI_OPT_NATS_CLUSTER_PORT) |                                 \
        CLI_BIT(CLI_OPT_NATS_GATEWAY_PORT) |                                 \
        CLI_BIT(CLI_OPT_NATS_LEAF_PORT) | CLI_BIT(CLI_OPT_NATS_HTTP_PORT) |  \
        CLI_BIT(CLI_OPT_YES) | CLI_BIT(CLI_OPT_JSON)

const struct cli_cmd cli_cmds[] = {
    {"setup seed", "", "bootstrap a new mesh; prints the seed URL",
     "Create the home of the first server of a new mesh: its identity, its "
     "store and the bootstrap entry that makes it the only voter and the "
     "first leader. Prints the seed URL that other servers join with; it "
     "holds the mesh secret, so keep it private. On a terminal (and without "
     "--yes) it asks for each setting, offering the default in brackets. "
     "Run `pmesh start` next.",
     COMMON | SERVER_FLAGS | CLI_BIT(CLI_OPT_SECRET), 0, 0, cli_setup_seed},
    {"setup join", "SEED_URL", "set up a full, voting member",
     "Join the mesh of SEED_URL as a full member: contacts the listed "
     "servers, proves the secret and is added as a learner; once it has "
     "caught up after `pmesh start`, the leader promotes it to voter. "
     "Interactive on a terminal unless --yes.",
     COMMON | SERVER_FLAGS | CLI_BIT(CLI_OPT_TIMEOUT), 0, 1, cli_setup_join},
    {"setup replica", "SEED_URL", "set up a non-voting copy of the state",
     "Join the mesh of SEED_URL as a replica: a full copy of the state, "
     "served locally, that never votes and may stay offline for days. Its "
     "NATS server attaches as a leaf node. Interactive on a terminal unless "
     "--yes.",
     COMMON | SERVER_FLAGS | CLI_BIT(CLI_OPT_TIMEOUT), 0, 1,
     cli_setup_replica},
    {"setup client", "SEED_URL | --nats URL", "set up a client (no state)",
     "Set up a client home: no state and no server. With SEED_URL, the mesh "
     "commands of this home (get, set, status, ...) are sent to the listed "
     "servers. With --nats URL the home only records where applications "
     "find NATS.",
     COMMON | CLI_BIT(CLI_OPT_NATS_URL) | CLI_BIT(CLI_OPT_YES), 0, 1,
     cli_setup_client},
    {"start", "", "run this node in the foreground until stopped",
     "Run the node of the home in the foreground: the store, Raft, the state "
     "machine, the peer listener, the control socket and the supervised "
     "nats-server. Runs until SIGTERM, SIGINT, `pmesh stop`, or its own "
     "removal after `pmesh leave`. Diagnostic lines go to HOME/pmesh.log. "
     "nats-server ($PMESH_NATS_SERVER, else /usr/sbin/nats-server, else "
     "the one on PATH) runs HOME/nats.conf with its output in "
     "HOME/nats.log; it is restarted if it dies, reloaded or restarted when "
     "the membership changes its config, and stopped with the node. "
     "--no-nats leaves NATS to you.",
     COMMON | CLI_BIT(CLI_OPT_LOG_STDERR) | CLI_BIT(CLI_OPT_NO_NATS), 0, 0,
     cli_run_start},
    {"stop", "", "stop the running node",
     "Ask the running node to stop cleanly: it finishes the current write, "
     "closes its store and removes its control socket.",
     REQ, 0, 0, cli_run_request},
    {"status", "", "role, leader, term, indexes, lag, health",
     "Show this node's view of the mesh: its role and state, the leader, "
     "the term, the commit, applied, first and last log indexes, and per "
     "member the replication index, lag and last contact.",
     DATA, 0, 0, cli_run_request},
    {"members", "", "list the members of the mesh",
     "List every member: name, id, role (voter or replica), NATS cluster, "
     "peer address, NATS URL, and which is the seed and the leader.",
     DATA, 0, 0, cli_run_request},
    {"get", "[KEY]", "read a setting (or all settings)",
     "Print the value of KEY, a dotted path such as nats.max_payload, from "
     "this node's applied state: strings as they are, other values as JSON. "
     "Without KEY, print all settings as JSON. The local state may be stale "
     "on a replica; --consistent reads through the leader instead.",
     DATA | CLI_BIT(CLI_OPT_CONSISTENT), 0, 1, cli_run_request},
    {"set", "KEY VALUE", "set a setting (replicated)",
     "Set KEY (a dotted path) to VALUE: JSON if it parses as JSON, a string "
     "otherwise. Returns once the entry is committed and applied on the "
     "node that answered, and prints its log index. Retried with the same "
     "request id after a timeout, so it applies once.",
     DATA, 2, 2, cli_run_request},
    {"unset", "KEY", "remove a setting (replicated)",
     "Remove KEY and everything under it. Prints the log index of the "
     "entry, as set does.",
     DATA, 1, 1, cli_run_request},
    {"leave", "", "remove this node from the mesh",
     "Remove this node from the mesh through a membership change; the node "
     "stops once the change is committed.",
     DATA, 0, 0, cli_run_request},
    {"remove", "NAME", "remove another member",
     "Remove member NAME from the mesh (for example one that died for "
     "good) through a membership change.",
     DATA, 1, 1, cli_run_request},
    {"promote", "NAME", "make a replica a voter",
     "Promote replica NAME to a voting member once it has caught up.",
     DATA, 1, 1, cli_run_request},
    {"force-recover", "", "continue alone after losing the seed for good",
     "Operator command for a two-voter mesh whose seed is lost for good: "
     "this node, which never elects itself alone, becomes the only voter. "
     "The decision is logged. Asks for confirmation on a terminal; needs "
     "--yes otherwise.",
     DATA | CLI_BIT(CLI_OPT_YES), 0, 0, cli_run_request},
    {"get-seed", "", "print the seed URL others join with",
     "Print the seed URL of this mesh (the secret and the voters' peer "
     "addresses). It holds the mesh secret: keep it private.",
     DATA, 0, 0, cli_run_request},
    {"log", "", "show the replicated log (the audit trail)",
     "Show the entries of the replicated log: index, term, time, proposer, "
     "type and command. Secrets are redacted. --from and --to bound the "
     "index range.",
     DATA | CLI_BIT(CLI_OPT_FROM) | CLI_BIT(CLI_OPT_TO), 0, 0,
     cli_run_request},
    {"history", "KEY", "show every change of a setting",
     "Show every committed change of KEY: index, term, time, proposer, "
     "operation, old and new value.",
     DATA, 1, 1, cli_run_request},
    {"replay", "", "rebuild the state from the log",
     "Replay the log from the start, up to --to INDEX (default: the "
     "applied index), into a scratch state and print its hash, compared "
     "with the live state's, and the settings it holds.",
     DATA | CLI_BIT(CLI_OPT_TO), 0, 0, cli_run_request},
    {"nats-config", "", "print the NATS config this node runs",
     "Print the nats-server configuration this node generated from the "
     "membership, and its path.",
     DATA, 0, 0, cli_run_request},
    {"nats-urls", "", "print the NATS URLs clients connect to",
     "Print the client URL of every NATS server of the mesh (voters first, "
     "then replicas), from the current membership, and one connection "
     "string that lists them all (nats://h1:p1,nats://h2:p2) for a NATS "
     "client library. Anonymous clients land in the mesh's application "
     "account, so the URLs need no credentials. Works in a client home; one "
     "set up with --nats prints that URL.",
     DATA, 0, 0, cli_run_request},
};

const size_t cli_n_cmds = sizeof cli_cmds / sizeof cli_cmds[0];
