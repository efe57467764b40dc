#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "util/cleanup.h"
#include "registry/registry.h"
#include "util/strutil.h"
#include "util/template.h"

int cli_store(cli_ctx *ctx, tug_store **ret_store)
{
    if (ctx->store == NULL) {
        tug_error *err = NULL;
        if (tug_store_open(ctx->root, &ctx->store, &err) < 0) {
            int rc = cli_fail(err);
            return rc;
        }
    }
    *ret_store = ctx->store;
    return 0;
}

void cli_registry_opts(cli_ctx *ctx, tug_registry_opts *ret)
{
    static json_t *conf;
    const char *path = getenv("TUG_CONFIG");
    if (conf == NULL) {
        conf = json_load_file(path && *path ? path : "/etc/tug/daemon.json", 0, NULL);
        size_t i;
        json_t *v;
        json_array_foreach(json_object_get(conf, "insecure-registries"), i, v)
        {
            if (json_is_string(v) && ctx->n_insecure < TUG_ARRAY_SIZE(ctx->insecure) - 1)
                ctx->insecure[ctx->n_insecure++] = json_string_value(v);
        }
    }
    ctx->insecure[ctx->n_insecure] = NULL;
    memset(ret, 0, sizeof(*ret));
    ret->user_agent = "tug/" TUG_VERSION;
    ret->insecure_registries = ctx->insecure;
    static char *auth; /* --config DIR: DIR/config.json, as long as the process runs */
    if (ctx->config_dir && auth == NULL && asprintf(&auth, "%s/config.json", ctx->config_dir) < 0)
        auth = NULL;
    ret->auth_config_path = auth;
}

int cli_fail(tug_error *err)
{
    if (err == NULL) {
        fprintf(stderr, "Error: unknown failure\n");
        return EXIT_ENGINE;
    }
    fprintf(stderr, "Error: %s\n", err->msg ? err->msg : "unknown failure");
    int rc = err->kind == TUG_ERR_USER ? EXIT_USER : EXIT_ENGINE;
    tug_error_free(err);
    return rc;
}

int cli_usage_error(cli_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", ctx->prog);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nSee '%s %s --help'.\n", ctx->prog, ctx->cmd);
    return EXIT_USER;
}

int cli_bad_value(cli_ctx *ctx, const char *value, const char *flag, const char *why)
{
    fprintf(stderr, "invalid argument \"%s\" for \"%s\" flag: %s\nSee '%s %s --help'.\n", value,
            flag, why, ctx->prog, ctx->cmd);
    return EXIT_ENGINE;
}

void cli_print_help(const char *usage, const char *summary, const char *options)
{
    printf("\nUsage:  %s\n\n%s\n", usage, summary);
    if (options && *options)
        printf("\nOptions:\n%s", options);
    printf("\n");
}

struct cli_table {
    char **lines;
    size_t n;
};

cli_table *cli_table_new(void)
{
    return calloc(1, sizeof(cli_table));
}

void cli_table_add(cli_table *t, const char *line)
{
    char **nl = realloc(t->lines, (t->n + 1) * sizeof(*nl));
    if (nl == NULL)
        return;
    t->lines = nl;
    t->lines[t->n++] = strdup(line);
}

static size_t text_width(const char *s, size_t n)
{
    size_t w = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            w++;
    return w;
}

void cli_table_flush(cli_table *t, FILE *out)
{
    size_t widths[64] = {0};
    for (size_t i = 0; i < t->n; i++) {
        const char *s = t->lines[i];
        for (size_t col = 0; col < 64; col++) {
            const char *tab = strchr(s, '\t');
            if (tab == NULL)
                break;
            size_t w = text_width(s, (size_t)(tab - s)) + 3;
            if (w < 10)
                w = 10;
            if (w > widths[col])
                widths[col] = w;
            s = tab + 1;
        }
    }
    for (size_t i = 0; i < t->n; i++) {
        const char *s = t->lines[i];
        for (size_t col = 0;; col++) {
            const char *tab = strchr(s, '\t');
            if (tab == NULL || col >= 64) {
                fputs(s, out);
                break;
            }
            size_t len = (size_t)(tab - s);
            fwrite(s, 1, len, out);
            for (size_t w = text_width(s, len); w < widths[col]; w++)
                fputc(' ', out);
            s = tab + 1;
        }
        fputc('\n', out);
    }
}

void cli_table_free(cli_table *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->n; i++)
        free(t->lines[i]);
    free(t->lines);
    free(t);
}

/* Go templates see "\t" written on the command line as a backslash and a t; docker turns it
 * (and "\n") into the character, after trimming the spaces around the format. */
static char *unescape_tabs(const char *s)
{
    char *out = malloc(strlen(s) + 1), *o = out;
    if (out == NULL)
        return NULL;
    while (*s == ' ')
        s++;
    const char *end = s + strlen(s);
    while (end > s && end[-1] == ' ')
        end--;
    for (; s < end; s++) {
        if (s[0] == '\\' && s + 1 < end && s[1] == 't') {
            *o++ = '\t';
            s++;
        } else if (s[0] == '\\' && s + 1 < end && s[1] == 'n') {
            *o++ = '\n';
            s++;
        } else
            *o++ = *s;
    }
    *o = '\0';
    return out;
}

/* docker prints a template's error bare, after "template parsing error: ", and exits 1. */
static int template_fail(tug_error *err)
{
    fprintf(stderr, "template parsing error: %s\n", err && err->msg ? err->msg : "unknown failure");
    tug_error_free(err);
    return EXIT_USER;
}

int cli_check_row_format(const tug_template *tmpl, const char *type_name, json_t *header,
                         tug_error **err)
{
    /* docker runs the template once over an empty row before it lists anything */
    json_t *empty = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(header, k, v) json_object_set_new(empty, k, json_string(""));
    json_object_set_new(empty, "@Label", json_object());
    const tug_template_opts opts = {.type_name = type_name};
    cleanup_free char *out = NULL;
    int r = tug_template_render_opts(tmpl, empty, &opts, &out, err);
    json_decref(empty);
    return r;
}

int cli_print_rows(const char *format, const char *default_table, json_t *header, json_t *rows)
{
    return cli_print_rows_typed(format, default_table, NULL, header, rows);
}

int cli_print_rows_typed(const char *format, const char *default_table, const char *type_name,
                         json_t *header, json_t *rows)
{
    const char *f = format && *format ? format : "table";
    bool table = false;
    cleanup_free char *tmpl_text = NULL;
    if (strcmp(f, "json") == 0) {
        tmpl_text = strdup("{{json .}}");
    } else if (strncmp(f, "table", 5) == 0 && (f[5] == '\0' || f[5] == ' ')) {
        table = true;
        const char *rest = f[5] ? f + 6 : "";
        while (*rest == ' ')
            rest++;
        tmpl_text = unescape_tabs(*rest ? rest : default_table);
    } else {
        tmpl_text = unescape_tabs(f);
    }
    tug_error *err = NULL;
    cleanup_template tug_template *tmpl = NULL;
    if (tug_template_parse(tmpl_text, &tmpl, &err) < 0)
        return template_fail(err);
    const tug_template_opts row_opts = {.type_name = type_name};
    const tug_template_opts header_opts = {.header = true};
    cli_table *t = cli_table_new();
    if (table) {
        cleanup_free char *h = NULL;
        if (tug_template_render_opts(tmpl, header, &header_opts, &h, &err) < 0) {
            cli_table_free(t);
            return template_fail(err);
        }
        cli_table_add(t, h);
    }
    /* nothing is printed unless every row renders, as docker buffers its output */
    tug_strbuf out = {0};
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        cleanup_free char *line = NULL;
        if (tug_template_render_opts(tmpl, row, &row_opts, &line, &err) < 0) {
            cli_table_free(t);
            tug_strbuf_free(&out);
            return template_fail(err);
        }
        if (table)
            cli_table_add(t, line);
        else {
            tug_strbuf_adds(&out, line);
            tug_strbuf_addc(&out, '\n');
        }
    }
    if (table)
        cli_table_flush(t, stdout);
    else if (out.len)
        fwrite(out.s, 1, out.len, stdout);
    tug_strbuf_free(&out);
    cli_table_free(t);
    return 0;
}

bool cli_label_match(json_t *labels, const char *filter)
{
    return tug_label_match(labels, filter);
}

int cli_print_documents(json_t *docs, const char *format)
{
    if (format == NULL || *format == '\0' || strcmp(format, "json") == 0) {
        char *out = json_dumps(docs, JSON_INDENT(4) | JSON_PRESERVE_ORDER);
        printf("%s\n", out ? out : "[]");
        free(out);
        return 0;
    }
    tug_error *err = NULL;
    cleanup_template tug_template *t = NULL;
    /* docker's inspect, version and info exit 64 for a template they cannot parse */
    if (tug_template_parse(format, &t, &err) < 0)
        return template_fail(err) ? EXIT_TEMPLATE_PARSE : 0;
    /* docker prints nothing when one document fails */
    tug_strbuf all = {0};
    size_t i;
    json_t *d;
    json_array_foreach(docs, i, d)
    {
        cleanup_free char *out = NULL;
        if (tug_template_render(t, d, &out, &err) < 0) {
            tug_strbuf_free(&all);
            /* docker's inspector still ends its (empty) output with a newline */
            putchar('\n');
            fflush(stdout);
            return template_fail(err);
        }
        tug_strbuf_adds(&all, out);
        tug_strbuf_addc(&all, '\n');
    }
    if (all.len)
        fwrite(all.s, 1, all.len, stdout);
    tug_strbuf_free(&all);
    return 0;
}

int cli_inspect_each(cli_ctx *ctx, int argc, char **argv, const char *format, cli_find_doc_fn find,
                     void *data)
{
    tug_store *s = NULL;
    int rc = cli_store(ctx, &s);
    if (rc)
        return rc;
    json_t *docs = json_array();
    int status = 0;
    cleanup_free char *errors = NULL;
    size_t errlen = 0;
    FILE *errs = open_memstream(&errors, &errlen);
    for (int i = 0; i < argc; i++) {
        tug_error *err = NULL;
        json_t *doc = find(s, argv[i], data, &err);
        if (doc) {
            json_array_append_new(docs, doc);
            continue;
        }
        if (errs)
            fprintf(errs, "Error: %s\n", err && err->msg ? err->msg : argv[i]);
        status = err == NULL || err->kind == TUG_ERR_USER ? EXIT_USER : EXIT_ENGINE;
        tug_error_free(err);
    }
    if (errs)
        fclose(errs);
    if (json_array_size(docs) > 0 || format == NULL || *format == '\0')
        rc = cli_print_documents(docs, format);
    json_decref(docs);
    if (errlen)
        fputs(errors, stderr);
    return rc ? rc : status;
}

bool cli_confirm(const char *warning)
{
    printf("%s\nAre you sure you want to continue? [y/N] ", warning);
    fflush(stdout);
    char line[16];
    if (fgets(line, sizeof(line), stdin) == NULL)
        return false;
    return line[0] == 'y' || line[0] == 'Y';
}
