/* args.c: the command-line parser, --help text, home resolution and the
 * error line every failure ends with. */
#include "cli/cli.h"
#include "base/err.h"

#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cli_fail(const struct cli *c, int code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* One line, whatever the message holds (node error text included). */
    for (char *p = msg; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    if (c != NULL && c->cmd != NULL)
        fprintf(stderr, "pmesh: %s: %s\n", c->cmd->name, msg);
    else
        fprintf(stderr, "pmesh: %s\n", msg);
    return code;
}

int cli_exit_for(int status)
{
    switch (status < 0 ? -status : status) {
    case PM_OK:
        return CLI_EXIT_OK;
    case PM_EINVAL:
    case PM_EREJECTED:
    case PM_ETOOBIG:
        return CLI_EXIT_REJECTED;
    case PM_ENOLEADER:
    case PM_ETIMEOUT:
    case PM_ENOTLEADER:
        return CLI_EXIT_NO_LEADER;
    case PM_ENOTRUNNING:
        return CLI_EXIT_NOT_RUNNING;
    default:
        return CLI_EXIT_FAIL;
    }
}

const struct cli_cmd *cli_cmd_find(const char *name)
{
    for (size_t i = 0; i < cli_n_cmds; i++)
        if (strcmp(cli_cmds[i].name, name) == 0)
            return &cli_cmds[i];
    return NULL;
}

/* Print TEXT wrapped at WIDTH columns, each line indented by INDENT;
 * START is the column the cursor is at already (the first line continues
 * there when START > 0). */
static void wrap_from(const char *text, int start, int indent, int width)
{
    int col = start;
    int words = 0; /* words on the current line */
    const char *p = text;
    while (*p) {
        while (*p == ' ')
            p++;
        size_t w = strcspn(p, " ");
        if (w == 0)
            break;
        if (words > 0 && col + 1 + (int)w > width) {
            putchar('\n');
            words = 0;
            col = 0;
        }
        if (words == 0 && col < indent) {
            printf("%*s", indent - col, "");
            col = indent;
        } else if (words > 0) {
            putchar(' ');
            col++;
        }
        fwrite(p, 1, w, stdout);
        col += (int)w;
        words++;
        p += w;
    }
    if (words > 0 || col > 0)
        putchar('\n');
}

static void wrap(const char *text, int indent, int width)
{
    wrap_from(text, 0, indent, width);
}

void cli_cmd_help(const struct cli_cmd *cmd)
{
    printf("usage: pmesh [--home DIR] %s%s%s [options]\n\n", cmd->name,
           cmd->args[0] ? " " : "", cmd->args);
    wrap(cmd->about, 0, 76);
    printf("\noptions:\n");
    /* Command-specific options first, then --home and --help. */
    for (int pass = 0; pass < 2; pass++)
        for (int o = 0; o < CLI_OPT__COUNT; o++) {
            int common = o == CLI_OPT_HOME || o == CLI_OPT_HELP;
            if (!(cmd->opts & CLI_BIT(o)) || common != pass)
                continue;
            char left[64];
            snprintf(left, sizeof left, "--%s%s%s", cli_opts[o].name,
                     cli_opts[o].arg ? " " : "",
                     cli_opts[o].arg ? cli_opts[o].arg : "");
            printf("  %-26s ", left);
            wrap_from(cli_opts[o].help, 29, 29, 79);
        }
}

static int usage(const struct cli *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int usage(const struct cli *c, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return cli_fail(c, CLI_EXIT_USAGE, "%s (see 'pmesh %s --help')", msg,
                    c->cmd->name);
}

/* The N-th word (0-based) of a synopsis such as "KEY VALUE". */
static void synopsis_word(const char *args, int n, char *out, size_t out_len)
{
    const char *p = args;
    for (int i = 0; i < n && *p; i++) {
        p += strcspn(p, " ");
        p += strspn(p, " ");
    }
    size_t w = strcspn(p, " ");
    if (w >= out_len)
        w = out_len - 1;
    memcpy(out, p, w);
    out[w] = 0;
}

int cli_parse(struct cli *c, const struct cli_cmd *cmd, int argc,
              char **argv)
{
    c->cmd = cmd;
    for (int i = 0; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            c->val[CLI_OPT_HELP] = "";
            return CLI_EXIT_OK;
        }

    int opts_done = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!opts_done && strcmp(a, "--") == 0) {
            opts_done = 1;
            continue;
        }
        if (!opts_done && a[0] == '-' && a[1] == '-') {
            const char *name = a + 2;
            const char *eq = strchr(name, '=');
            size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
            int o;
            for (o = 0; o < CLI_OPT__COUNT; o++)
                if (strlen(cli_opts[o].name) == nlen &&
                    strncmp(cli_opts[o].name, name, nlen) == 0)
                    break;
            if (o == CLI_OPT__COUNT)
                return usage(c, "unknown option '--%.*s'", (int)nlen, name);
            if (!(cmd->opts & CLI_BIT(o)))
                return usage(c, "option '--%s' does not apply to %s",
                             cli_opts[o].name, cmd->name);
            const char *v = "";
            if (cli_opts[o].arg != NULL) {
                if (eq != NULL)
                    v = eq + 1;
                else if (i + 1 < argc)
                    v = argv[++i];
                else
                    return usage(c, "option '--%s' needs a value (%s)",
                                 cli_opts[o].name, cli_opts[o].arg);
                if (v[0] == 0)
                    return usage(c, "option '--%s' has an empty value",
                                 cli_opts[o].name);
            } else if (eq != NULL) {
                return usage(c, "option '--%s' takes no value",
                             cli_opts[o].name);
            }
            if (c->val[o] != NULL && o != CLI_OPT_HOME && o != CLI_OPT_JSON)
                return usage(c, "option '--%s' given twice",
                             cli_opts[o].name);
            c->val[o] = v;
            continue;
        }
        /* "-5" is a value (set KEY -5), "-x" an option we do not have. */
        if (!opts_done && a[0] == '-' && a[1] != 0 &&
            !(a[1] >= '0' && a[1] <= '9'))
            return usage(c, "unknown option '%s'", a);
        if (c->npos >= cmd->pos_max || c->npos >= CLI_POS_MAX) {
            /* A seed URL holds the mesh secret: do not echo it. */
            if (strncmp(a, "pmtp://", 7) == 0)
                return usage(c, "unexpected argument (a seed URL)");
            return usage(c, "unexpected argument '%s'", a);
        }
        c->pos[c->npos++] = argv[i];
    }
    if (c->npos < cmd->pos_min) {
        char want[32];
        synopsis_word(cmd->args, c->npos, want, sizeof want);
        return usage(c, "missing %s", want);
    }
    c->json = c->json || c->val[CLI_OPT_JSON] != NULL;
    return cli_parse_timeout(c);
}

int cli_parse_timeout(struct cli *c)
{
    const char *v = c->val[CLI_OPT_TIMEOUT];
    c->timeout_ms = CLI_TIMEOUT_MS;
    if (v == NULL)
        return CLI_EXIT_OK;
    char *end = NULL;
    unsigned long s = 0;
    if (v[0] >= '0' && v[0] <= '9')
        s = strtoul(v, &end, 10);
    if (end == NULL || *end != 0 || s < 1 || s > CLI_TIMEOUT_S_MAX)
        return usage(c, "--timeout '%s': want whole seconds 1-%u", v,
                     CLI_TIMEOUT_S_MAX);
    c->timeout_ms = (uint32_t)s * 1000u;
    return CLI_EXIT_OK;
}

char *cli_home_resolve(const char *flag)
{
    const char *env = getenv("PMESH_HOME");
    char *home = NULL;
    if (flag != NULL) {
        home = strdup(flag);
    } else if (env != NULL && env[0] != 0) {
        home = strdup(env);
    } else {
        const char *h = getenv("HOME");
        if (h == NULL || h[0] == 0) {
            struct passwd *pw = getpwuid(getuid());
            h = pw ? pw->pw_dir : NULL;
        }
        if (h == NULL) {
            cli_fail(NULL, CLI_EXIT_USAGE,
                     "no home directory: give --home DIR or set PMESH_HOME");
            return NULL;
        }
        if (asprintf(&home, "%s/.pmesh", h) < 0)
            home = NULL;
    }
    if (home == NULL)
        cli_fail(NULL, CLI_EXIT_FAIL, "out of memory");
    return home;
}
