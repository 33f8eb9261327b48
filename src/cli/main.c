/* main.c: `pmesh [--home DIR] COMMAND ...`: global options, then one
 * command from the table in table.c. */
#include "cli/cli.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PMESH_VERSION "0.1.0"

static void global_help(void)
{
    printf("usage: pmesh [--home DIR] COMMAND [ARGS] [options]\n\n"
           "pmesh keeps a mesh of servers' configuration in agreement: every "
           "change is an\nentry in a Raft-replicated log, applied on every "
           "node.\n\ncommands:\n");
    for (size_t i = 0; i < cli_n_cmds; i++) {
        char left[48];
        snprintf(left, sizeof left, "%s%s%s", cli_cmds[i].name,
                 cli_cmds[i].args[0] ? " " : "", cli_cmds[i].args);
        printf("  %-36s %s\n", left, cli_cmds[i].summary);
    }
    printf("\nglobal options:\n"
           "  --home DIR      node home (default $PMESH_HOME, else "
           "~/.pmesh)\n"
           "  --json          machine-readable output (also after COMMAND)\n"
           "  --version       print the version and exit\n"
           "  --help          print this help; 'pmesh COMMAND --help' for "
           "one command\n\n"
           "exit status: 0 success, 1 failure, 2 usage error, 3 node not "
           "running,\n4 no leader or timeout, 5 input rejected.\n");
}

static void setup_help(void)
{
    printf("usage: pmesh [--home DIR] setup ROLE [ARGS] [options]\n\n"
           "Set up the home of a node. ROLE is one of:\n");
    for (size_t i = 0; i < cli_n_cmds; i++)
        if (strncmp(cli_cmds[i].name, "setup ", 6) == 0)
            printf("  %-30s %s\n", cli_cmds[i].name + 6, cli_cmds[i].summary);
    printf("\nWithout ROLE, on a terminal, setup asks for it. "
           "'pmesh setup ROLE --help' lists\nthe flags of a role.\n");
}

static int global_usage(const char *fmt, const char *arg)
{
    fprintf(stderr, "pmesh: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see 'pmesh --help')\n");
    return CLI_EXIT_USAGE;
}

/* The command named by ARGV[*I] (and, for setup, the role after it).
 * Advances *I past the name. NULL when there is nothing to run: help was
 * printed (*CODE 0) or a defect was (*CODE its exit code). */
static const struct cli_cmd *pick(int argc, char **argv, int *i, int *code)
{
    const char *name = argv[(*i)++];
    *code = CLI_EXIT_USAGE;
    if (strcmp(name, "help") == 0) {
        const struct cli_cmd *cmd = NULL;
        if (*i < argc && strcmp(argv[*i], "setup") == 0 && *i + 1 < argc) {
            char full[64];
            snprintf(full, sizeof full, "setup %s", argv[*i + 1]);
            cmd = cli_cmd_find(full);
        } else if (*i < argc && strcmp(argv[*i], "setup") == 0) {
            setup_help();
            *code = CLI_EXIT_OK;
            return NULL;
        } else if (*i < argc) {
            cmd = cli_cmd_find(argv[*i]);
        } else {
            global_help();
            *code = CLI_EXIT_OK;
            return NULL;
        }
        if (cmd == NULL) {
            global_usage("help: unknown command '%s'", argv[*i]);
            return NULL;
        }
        cli_cmd_help(cmd);
        *code = CLI_EXIT_OK;
        return NULL;
    }
    if (strcmp(name, "setup") != 0) {
        const struct cli_cmd *cmd = cli_cmd_find(name);
        if (cmd == NULL || strncmp(name, "setup ", 6) == 0)
            global_usage("unknown command '%s'", name);
        return cmd;
    }
    if (*i < argc && argv[*i][0] != '-') {
        char full[64];
        snprintf(full, sizeof full, "setup %.40s", argv[*i]);
        const struct cli_cmd *cmd = cli_cmd_find(full);
        if (cmd == NULL) {
            fprintf(stderr,
                    "pmesh: setup: unknown role '%s' (seed, join, replica or "
                    "client)\n",
                    argv[*i]);
            return NULL;
        }
        (*i)++;
        return cmd;
    }
    for (int k = *i; k < argc && strcmp(argv[k], "--") != 0; k++)
        if (strcmp(argv[k], "--help") == 0 || strcmp(argv[k], "-h") == 0) {
            setup_help();
            *code = CLI_EXIT_OK;
            return NULL;
        }
    int yes = 0;
    for (int k = *i; k < argc; k++)
        yes |= strcmp(argv[k], "--yes") == 0;
    if (yes || !isatty(0)) {
        fprintf(stderr, "pmesh: setup: missing ROLE (seed, join, replica or "
                        "client; see 'pmesh setup --help')\n");
        return NULL;
    }
    const struct cli_cmd *cmd = cli_setup_ask_role();
    if (cmd == NULL)
        *code = CLI_EXIT_FAIL;
    return cmd;
}

int main(int argc, char **argv)
{
    struct cli c;
    memset(&c, 0, sizeof c);
    c.prog = "pmesh";
    c.json_pretty = isatty(1);
    const char *home_flag = NULL;

    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--version") == 0) {
            puts("pmesh " PMESH_VERSION);
            return CLI_EXIT_OK;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            global_help();
            return CLI_EXIT_OK;
        }
        if (strcmp(a, "--json") == 0) {
            c.json = 1;
        } else if (strcmp(a, "--home") == 0 || strncmp(a, "--home=", 7) == 0) {
            home_flag = a[6] == '=' ? a + 7 : (i + 1 < argc ? argv[++i] : NULL);
            if (home_flag == NULL || home_flag[0] == 0)
                return global_usage("option '--home' needs a directory%s", "");
        } else if (a[0] == '-') {
            return global_usage("unknown option '%s'", a);
        } else {
            break;
        }
    }
    if (i == argc)
        return global_usage("missing COMMAND%s", "");

    int code = CLI_EXIT_OK;
    const struct cli_cmd *cmd = pick(argc, argv, &i, &code);
    if (cmd == NULL)
        return code;
    int rc = cli_parse(&c, cmd, argc - i, argv + i);
    if (rc != CLI_EXIT_OK)
        return rc;
    if (c.val[CLI_OPT_HELP] != NULL) {
        cli_cmd_help(cmd);
        return CLI_EXIT_OK;
    }
    if (sodium_init() < 0)
        return cli_fail(&c, CLI_EXIT_FAIL, "cannot initialise libsodium");
    char *home = cli_home_resolve(c.val[CLI_OPT_HOME] ? c.val[CLI_OPT_HOME]
                                                      : home_flag);
    if (home == NULL)
        return CLI_EXIT_FAIL;
    c.home = home;
    rc = cmd->run(&c);
    free(home);
    return rc;
}
