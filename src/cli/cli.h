/* cli.h: internals of the `pmesh` command line, shared by the files of
 * src/cli. Not a library: src/cli is linked straight into build/pmesh.
 *
 *   main.c     global options, command dispatch, --help / --version
 *   args.c     the option parser and the command table lookups
 *   table.c    the command table: usage, description, flags of each command
 *   setup.c    `setup seed|join|replica|client`: flags, validation, prompts
 *   mesh.c     the commands that send a control request and render the reply
 *   rpc.c      talking to the node: control socket or a remote server
 *   render.c   human output (aligned tables, plain values) and --json output
 *
 * Conventions: every command handler returns an exit code (enum cli_exit)
 * and has printed exactly one line on stderr when that code is not 0.
 */
#ifndef PM_CLI_H
#define PM_CLI_H

#include <stddef.h>
#include <stdint.h>

/* Exit codes: the user's contract (docs/pmesh.1, EXIT STATUS). */
enum cli_exit {
    CLI_EXIT_OK = 0,
    CLI_EXIT_FAIL = 1,        /* anything not listed below */
    CLI_EXIT_USAGE = 2,       /* bad command line, found by the CLI itself */
    CLI_EXIT_NOT_RUNNING = 3, /* no node set up, or the node is not running */
    CLI_EXIT_NO_LEADER = 4,   /* no leader known, or timed out */
    CLI_EXIT_REJECTED = 5,    /* the node rejected the input */
};

/* Every option the CLI knows. Each command allows a subset (a bit mask of
 * 1 << id); --home and --help are allowed everywhere. */
enum cli_opt {
    CLI_OPT_HOME,
    CLI_OPT_HELP,
    CLI_OPT_JSON,
    CLI_OPT_TIMEOUT,
    CLI_OPT_CONSISTENT,
    CLI_OPT_FROM,
    CLI_OPT_TO,
    CLI_OPT_NAME,
    CLI_OPT_CLUSTER,
    CLI_OPT_LISTEN,
    CLI_OPT_ADVERTISE,
    CLI_OPT_NATS_HOST,
    CLI_OPT_NATS_PORT,
    CLI_OPT_NATS_CLUSTER_PORT,
    CLI_OPT_NATS_GATEWAY_PORT,
    CLI_OPT_NATS_LEAF_PORT,
    CLI_OPT_NATS_HTTP_PORT,
    CLI_OPT_SECRET,
    CLI_OPT_YES,
    CLI_OPT_NATS_URL,
    CLI_OPT_LOG_STDERR,
    CLI_OPT_NO_NATS,
    CLI_OPT__COUNT
};

#define CLI_BIT(o) (UINT64_C(1) << (o))

struct cli_optdef {
    const char *name; /* without the leading "--" */
    const char *arg;  /* value placeholder ("DIR"), NULL for a switch */
    const char *help; /* one line for --help and the man page */
};
extern const struct cli_optdef cli_opts[CLI_OPT__COUNT];

#define CLI_POS_MAX 8

struct cli;
struct cli_cmd {
    const char *name;    /* "status", "setup seed" */
    const char *args;    /* positional synopsis ("KEY VALUE"), "" if none */
    const char *summary; /* one line for `pmesh --help` */
    const char *about;   /* one paragraph for `pmesh CMD --help` */
    uint64_t opts;       /* allowed options, CLI_BIT(...) */
    int pos_min, pos_max;
    int (*run)(struct cli *c);
};
extern const struct cli_cmd cli_cmds[];
extern const size_t cli_n_cmds;

/* One invocation: what was parsed, and what the commands share. */
struct cli {
    const char *prog;              /* "pmesh" */
    const struct cli_cmd *cmd;     /* the command being run */
    const char *home;              /* resolved home directory */
    const char *val[CLI_OPT__COUNT]; /* option values; switches get "" */
    char *pos[CLI_POS_MAX];        /* positional arguments */
    int npos;
    int json;                      /* --json */
    int json_pretty;               /* pretty JSON (stdout is a terminal) */
    uint32_t timeout_ms;           /* --timeout, else CLI_TIMEOUT_MS */
};

#define CLI_TIMEOUT_MS 10000u
#define CLI_TIMEOUT_S_MAX 3600u

/* args.c */
/* Find a command by name ("setup seed"); NULL if none. */
const struct cli_cmd *cli_cmd_find(const char *name);
/* Parse ARGV[0..ARGC) (the words after the command name) against CMD's
 * options into C. Returns CLI_EXIT_OK, or CLI_EXIT_USAGE after printing
 * the defect. A "--help" anywhere before "--" sets val[CLI_OPT_HELP] and
 * skips every other check, so help always works. */
int cli_parse(struct cli *c, const struct cli_cmd *cmd, int argc,
              char **argv);
/* Print `pmesh CMD --help` to stdout. */
void cli_cmd_help(const struct cli_cmd *cmd);
/* Resolve the home directory: --home, $PMESH_HOME, ~/.pmesh. Returns a
 * malloc'd path or NULL after printing why. */
char *cli_home_resolve(const char *flag);
/* Parse --timeout SECONDS (1..CLI_TIMEOUT_S_MAX). */
int cli_parse_timeout(struct cli *c);

/* Print "pmesh: CMD: MESSAGE" on stderr and return CODE. */
int cli_fail(const struct cli *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The exit code for a negative pm_err status from the node or the
 * transport (docs/control-protocol.md). */
int cli_exit_for(int status);

/* setup.c */
int cli_setup_seed(struct cli *c);
int cli_setup_join(struct cli *c);
int cli_setup_replica(struct cli *c);
int cli_setup_client(struct cli *c);
/* `pmesh setup` without a role, on a terminal: ask for it. Returns the
 * chosen command, or NULL after printing why (end of input). */
const struct cli_cmd *cli_setup_ask_role(void);
/* 1 if setup should ask questions: stdin is a terminal and no --yes. */
int cli_interactive(const struct cli *c);

/* mesh.c: one handler per control operation. */
int cli_run_start(struct cli *c);
int cli_run_request(struct cli *c);

/* rpc.c */
/* Flags of a request (docs/control-protocol.md). */
#define CLI_REQ_JSON 1u
#define CLI_REQ_CONSISTENT 2u

struct cli_reply {
    int status;     /* 0 or a negative pm_err, as sent by the node */
    char *body;     /* malloc'd, NUL-terminated; JSON or one error line */
    size_t body_len;
    char detail[256]; /* when no reply came: what went wrong, or "" */
};

/* Send request OP with NARGS arguments (NUL-terminated strings) to the
 * node of C->home (or, for a client home, to one of its servers) and wait
 * up to TIMEOUT_MS (the node is told the same and answers a little
 * earlier). REQ_ID 0 picks a fresh id; a retry passes the same id again.
 * Returns 0 when a reply arrived (*REPLY holds it; free with
 * cli_reply_free), or a negative pm_err when none did, with a phrase in
 * REPLY->detail when there is more to say than the code:
 * -PM_ENOTFOUND HOME is not set up; -PM_ENOTRUNNING nobody listens;
 * -PM_ETIMEOUT; -PM_ECLOSED; -PM_EAUTH; -PM_ESTATE a --nats client home. */
int cli_call(struct cli *c, const char *op, const char *const *args,
             int nargs, uint32_t flags, uint64_t req_id, uint32_t timeout_ms,
             struct cli_reply *reply);
void cli_reply_free(struct cli_reply *reply);
/* A random request id (libsodium), never 0. */
uint64_t cli_random_id(void);

/* render.c */
struct cJSON;
/* J as JSON text, malloc'd (caller frees): compact, or indented with two
 * spaces when PRETTY. NULL if out of memory. */
char *cli_json_text(const struct cJSON *j, int pretty);
/* Each takes the node's JSON reply body; returns an exit code
 * (CLI_EXIT_FAIL after printing if the body is not the expected JSON). */
int cli_print_json(const struct cli *c, const char *body, size_t len);
int cli_render(const struct cli *c, const char *op, const char *body,
               size_t len);

#endif
