/* Command-line flags read as docker reads them (spf13/pflag's rules), in place of getopt_long:
 * a long flag is its exact name (getopt_long's abbreviations would read --pid as --pids-limit),
 * a flag without an argument is a boolean that takes =true/=false, and errors name the flag. */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static char opt_true[] = "true", opt_false[] = "false";

static struct {
    char **argv;
    int argc;
    int next;                      /* the next element of argv to read */
    int operands;                  /* operands passed over so far sit at argv[operands..next) */
    const char *cluster;           /* the unread rest of a short-flag cluster ("-it"), or NULL */
    const struct option *cur_long; /* the flag just returned, for cli_flag_unknown */
    const char *cur_short;         /* its place in a cluster when given by its shorthand */
    char msg[512];
} st;

/* Move argv[next] in front of the operands passed over, as getopt_long permutes argv, so that
 * the operands end up together at argv[optind..]. */
static char *take(void)
{
    char *x = st.argv[st.next];
    memmove(&st.argv[st.operands + 1], &st.argv[st.operands],
            (size_t)(st.next - st.operands) * sizeof(char *));
    st.argv[st.operands] = x;
    st.operands++;
    st.next++;
    return x;
}

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st.msg, sizeof(st.msg), fmt, ap);
    va_end(ap);
    optind = st.next;
    return '?';
}

/* Go's strconv.ParseBool, which pflag uses for boolean flags. */
static int parse_bool(const char *s, bool *ret)
{
    static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True"};
    static const char *const no[] = {"0", "f", "F", "FALSE", "false", "False"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcmp(s, yes[i]) == 0 || strcmp(s, no[i]) == 0) {
            *ret = strcmp(s, yes[i]) == 0;
            return 0;
        }
    }
    return -1;
}

static const struct option *find_long(const struct option *longopts, const char *name, size_t len)
{
    for (const struct option *o = longopts; o && o->name; o++)
        if (strlen(o->name) == len && strncmp(o->name, name, len) == 0)
            return o;
    return NULL;
}

/* The shorthand c of shortopts: 0 when it has none, 1 for a boolean, 2 when it takes a value. */
static int short_kind(const char *shortopts, char c)
{
    if (c == ':' || c == '+' || c == '-')
        return 0;
    const char *p = strchr(shortopts, c);
    return p == NULL ? 0 : p[1] == ':' ? 2 : 1;
}

/* A flag as pflag names it in messages: "-d, --detach" or "--rm". */
static void flag_name(char *buf, size_t size, const struct option *o, char c)
{
    if (o && c)
        snprintf(buf, size, "-%c, --%s", c, o->name);
    else if (o)
        snprintf(buf, size, "--%s", o->name);
    else
        snprintf(buf, size, "-%c", c);
}

static int found(const struct option *o, const char *at_short, const char *value)
{
    st.cur_long = o;
    st.cur_short = at_short;
    optarg = (char *)value;
    optind = st.next;
    return o ? o->val : (unsigned char)*at_short;
}

static int bool_value(const struct option *o, char c, const char *value)
{
    bool on;
    if (parse_bool(value, &on) < 0) {
        char name[128];
        flag_name(name, sizeof(name), o, c);
        fail("invalid argument \"%s\" for \"%s\" flag: strconv.ParseBool: parsing \"%s\": "
             "invalid syntax",
             value, name, value);
        return -1;
    }
    return on ? 1 : 0;
}

static int next_short(const char *shortopts, const struct option *longopts)
{
    const char *at = st.cluster;
    char c = *at;
    int kind = short_kind(shortopts, c);
    const struct option *o = NULL;
    for (const struct option *p = longopts; kind && p && p->name; p++)
        if (p->val == (unsigned char)c) {
            o = p;
            break;
        }
    st.cluster = at[1] ? at + 1 : NULL;
    if (kind == 0 && c == 'h' && (o = find_long(longopts, "help", 4)) != NULL)
        return found(o, NULL, opt_true); /* pflag's -h, when the command has no -h of its own */
    if (kind == 0)
        return fail("unknown shorthand flag: '%c' in -%s", c, at);
    if (kind == 2) {
        const char *value = at[1] == '=' && at[2] ? at + 2 : at[1] ? at + 1 : NULL;
        st.cluster = NULL;
        if (value == NULL && st.next >= st.argc)
            return fail("flag needs an argument: '%c' in -%s", c, at);
        return found(o, at, value ? value : take());
    }
    if (at[1] == '=' && at[2]) {
        st.cluster = NULL;
        int on = bool_value(o, c, at + 2);
        if (on < 0)
            return '?';
        return found(o, at, on ? opt_true : opt_false);
    }
    return found(o, at, opt_true);
}

static int next_long(const char *shortopts, const struct option *longopts, const char *arg)
{
    const char *name = arg + 2, *eq = strchr(name, '=');
    if (name[0] == '-' || name[0] == '=')
        return fail("bad flag syntax: %s", arg);
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    const struct option *o = find_long(longopts, name, len);
    if (o == NULL)
        return fail("unknown flag: --%.*s", (int)len, name);
    char c = o->val > 0 && o->val < 256 && short_kind(shortopts, (char)o->val) ? (char)o->val : 0;
    if (o->has_arg != no_argument) {
        if (eq == NULL && st.next >= st.argc)
            return fail("flag needs an argument: %s", arg);
        return found(o, NULL, eq ? eq + 1 : take());
    }
    int on = eq ? bool_value(o, c, eq + 1) : 1;
    if (on < 0)
        return '?';
    return found(o, NULL, on ? opt_true : opt_false);
}

int cli_getopt(int argc, char **argv, const char *shortopts, const struct option *longopts)
{
    if (optind == 0 || argv != st.argv) {
        memset(&st, 0, sizeof(st));
        st.argv = argv;
        st.argc = argc;
        st.next = st.operands = 1;
    }
    bool stop_at_operand = shortopts[0] == '+';
    for (;;) {
        int c;
        if (st.cluster)
            c = next_short(shortopts, longopts);
        else if (st.next >= argc) {
            optind = st.operands;
            return -1;
        } else {
            const char *arg = argv[st.next];
            if (arg[0] != '-' || arg[1] == '\0') {
                if (stop_at_operand) {
                    optind = st.next;
                    return -1;
                }
                st.next++; /* an operand: passed over, the flags after it are still read */
                continue;
            }
            take();
            if (strcmp(arg, "--") == 0) {
                optind = st.operands;
                return -1;
            }
            if (arg[1] == '-')
                c = next_long(shortopts, longopts, arg);
            else {
                st.cluster = arg + 1;
                c = next_short(shortopts, longopts);
            }
        }
        /* --help=false asks for nothing */
        if (c != '?' && st.cur_long && strcmp(st.cur_long->name, "help") == 0 &&
            optarg == opt_false)
            continue;
        return c;
    }
}

bool cli_opt_on(void)
{
    return optarg == opt_true;
}

int cli_flag_error(cli_ctx *ctx)
{
    if (st.msg[0] == '\0') /* a flag of the table the command has no case for */
        return cli_flag_unknown(ctx);
    fprintf(stderr, "%s\nSee '%s%s%s --help'.\n", st.msg, ctx->prog, ctx->cmd[0] ? " " : "",
            ctx->cmd);
    return EXIT_ENGINE;
}

int cli_force_only(cli_ctx *ctx, int argc, char **argv, const char *usage, const char *summary,
                   const char *force_help, bool *ret_force)
{
    static const struct option help[] = {{"help", no_argument, NULL, 'H'}, {NULL, 0, NULL, 0}};
    static const struct option force[] = {
        {"force", no_argument, NULL, 'f'}, {"help", no_argument, NULL, 'H'}, {NULL, 0, NULL, 0}};
    int c;
    while ((c = cli_getopt(argc, argv, ret_force ? "f" : "", ret_force ? force : help)) != -1) {
        if (c == 'f') {
            *ret_force = cli_opt_on();
            continue;
        }
        if (c != 'H')
            return cli_flag_error(ctx);
        cli_print_help(usage, summary, force_help ? force_help : "");
        return -1;
    }
    return 0;
}

int cli_help_only(cli_ctx *ctx, int argc, char **argv, const char *usage, const char *summary)
{
    return cli_force_only(ctx, argc, argv, usage, summary, NULL, NULL);
}

int cli_no_operands(cli_ctx *ctx, int argc, char **argv)
{
    if (optind >= argc)
        return 0;
    fprintf(stderr, "\"%s\" accepts no arguments.\nSee '%s %s --help'.\n", ctx->cmd, ctx->prog,
            ctx->cmd);
    return EXIT_USER;
}

int cli_flag_unknown(cli_ctx *ctx)
{
    if (st.cur_short)
        snprintf(st.msg, sizeof(st.msg), "unknown shorthand flag: '%c' in -%s", *st.cur_short,
                 st.cur_short);
    else
        snprintf(st.msg, sizeof(st.msg), "unknown flag: --%s",
                 st.cur_long ? st.cur_long->name : "");
    return cli_flag_error(ctx);
}
