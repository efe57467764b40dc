/* The metadata database: SQLite in WAL mode, the single source of truth. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "../util/cleanup.h"
#include "../util/fs.h"
#include "db.h"
#include "store.h"

#define SCHEMA_VERSION 8

static const char schema_v1[] =
    "CREATE TABLE IF NOT EXISTS layers ("
    "  chain_id TEXT PRIMARY KEY,"
    "  diff_id TEXT NOT NULL,"
    "  size INTEGER NOT NULL,"
    "  created INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS images ("
    "  id TEXT PRIMARY KEY,"
    "  config BLOB NOT NULL,"
    "  manifest_digest TEXT,"
    "  manifest_media_type TEXT,"
    "  created INTEGER NOT NULL,"
    "  added INTEGER NOT NULL,"
    "  size INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS image_layers ("
    "  image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,"
    "  idx INTEGER NOT NULL,"
    "  chain_id TEXT NOT NULL REFERENCES layers(chain_id),"
    "  diff_id TEXT NOT NULL,"
    "  blob_digest TEXT,"
    "  media_type TEXT,"
    "  blob_size INTEGER,"
    "  PRIMARY KEY (image_id, idx));"
    "CREATE INDEX IF NOT EXISTS image_layers_chain ON image_layers(chain_id);"
    "CREATE TABLE IF NOT EXISTS tags ("
    "  name TEXT PRIMARY KEY,"
    "  image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,"
    "  created INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS tags_image ON tags(image_id);"
    "CREATE TABLE IF NOT EXISTS digests ("
    "  name TEXT NOT NULL,"
    "  image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,"
    "  PRIMARY KEY (name, image_id));"
    "CREATE TABLE IF NOT EXISTS containers ("
    "  id TEXT PRIMARY KEY,"
    "  name TEXT UNIQUE NOT NULL,"
    "  image_id TEXT NOT NULL,"
    "  image_name TEXT,"
    "  created INTEGER NOT NULL,"
    "  state TEXT NOT NULL DEFAULT 'created',"
    "  config TEXT,"
    "  pid INTEGER NOT NULL DEFAULT 0,"
    "  pid_start INTEGER NOT NULL DEFAULT 0,"
    "  monitor_pid INTEGER NOT NULL DEFAULT 0,"
    "  exit_code INTEGER NOT NULL DEFAULT 0,"
    "  oom_killed INTEGER NOT NULL DEFAULT 0,"
    "  started INTEGER NOT NULL DEFAULT 0,"
    "  finished INTEGER NOT NULL DEFAULT 0,"
    "  restart_count INTEGER NOT NULL DEFAULT 0,"
    "  error TEXT);"
    "CREATE INDEX IF NOT EXISTS containers_image ON containers(image_id);";

/* v2: networks, their endpoints (one per container and network) and published ports. */
static const char schema_v2[] =
    "CREATE TABLE IF NOT EXISTS networks ("
    "  id TEXT PRIMARY KEY,"
    "  name TEXT UNIQUE NOT NULL,"
    "  driver TEXT NOT NULL,"
    "  bridge TEXT NOT NULL,"
    "  subnet TEXT NOT NULL,"
    "  gateway TEXT NOT NULL,"
    "  internal INTEGER NOT NULL DEFAULT 0,"
    "  created INTEGER NOT NULL,"
    "  labels TEXT);"
    "CREATE TABLE IF NOT EXISTS endpoints ("
    "  container_id TEXT NOT NULL,"
    "  network_id TEXT NOT NULL REFERENCES networks(id),"
    "  ip TEXT NOT NULL,"
    "  mac TEXT,"
    "  aliases TEXT,"
    "  PRIMARY KEY (container_id, network_id),"
    "  UNIQUE (network_id, ip));"
    "CREATE TABLE IF NOT EXISTS ports ("
    "  container_id TEXT NOT NULL,"
    "  proto TEXT NOT NULL,"
    "  host_ip TEXT NOT NULL,"
    "  host_port INTEGER NOT NULL,"
    "  ctr_port INTEGER NOT NULL,"
    "  PRIMARY KEY (proto, host_ip, host_port));";

/* v3: volumes, and which containers use them (a volume in use cannot be removed). */
static const char schema_v3[] =
    "CREATE TABLE IF NOT EXISTS volumes ("
    "  name TEXT PRIMARY KEY,"
    "  created INTEGER NOT NULL,"
    "  labels TEXT,"
    "  options TEXT,"
    "  anonymous INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS volume_users ("
    "  container_id TEXT NOT NULL,"
    "  volume_name TEXT NOT NULL,"
    "  PRIMARY KEY (container_id, volume_name));"
    "CREATE INDEX IF NOT EXISTS volume_users_volume ON volume_users(volume_name);";

/* v4: the build cache (a step's key -> the layer it made; such layers are kept like an image's
 * until `builder prune`) and the build steps running now (their addresses are not leftovers). */
static const char schema_v4[] =
    "CREATE TABLE IF NOT EXISTS build_cache ("
    "  key TEXT PRIMARY KEY,"
    "  chain_id TEXT NOT NULL,"
    "  diff_id TEXT NOT NULL,"
    "  blob_digest TEXT,"
    "  media_type TEXT,"
    "  blob_size INTEGER NOT NULL DEFAULT 0,"
    "  size INTEGER NOT NULL DEFAULT 0,"
    "  description TEXT,"
    "  created INTEGER NOT NULL,"
    "  last_used INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS build_cache_chain ON build_cache(chain_id);"
    "CREATE TABLE IF NOT EXISTS build_steps ("
    "  id TEXT PRIMARY KEY,"
    "  pid INTEGER NOT NULL,"
    "  pid_start INTEGER NOT NULL);";

/* v5: the build context's file hashes, by what tells a file unchanged, and whole COPY sources'
 * checksums by the fingerprint of their files' metadata (build/context.c). */
static const char schema_v5[] =
    "CREATE TABLE IF NOT EXISTS build_file_hashes ("
    "  dev INTEGER NOT NULL,"
    "  ino INTEGER NOT NULL,"
    "  size INTEGER NOT NULL,"
    "  mtime_ns INTEGER NOT NULL,"
    "  ctime_ns INTEGER NOT NULL,"
    "  digest TEXT NOT NULL,"
    "  created INTEGER NOT NULL,"
    "  PRIMARY KEY (dev, ino)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS build_match_sums ("
    "  fingerprint TEXT PRIMARY KEY,"
    "  digest TEXT NOT NULL,"
    "  created INTEGER NOT NULL) WITHOUT ROWID;";

/* v6: what each build cache row's step was and read (its parent layer, instruction and inputs:
 * the build args, each COPY source's checksum), so that a miss can say what changed since. */
static const char schema_v6[] =
    "CREATE TABLE IF NOT EXISTS build_cache_inputs ("
    "  key TEXT PRIMARY KEY REFERENCES build_cache(key) ON DELETE CASCADE,"
    "  parent TEXT NOT NULL,"
    "  kind TEXT NOT NULL,"
    "  text TEXT NOT NULL,"
    "  inputs TEXT NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS build_cache_inputs_step ON build_cache_inputs(kind, parent);"
    "CREATE INDEX IF NOT EXISTS build_cache_inputs_text ON build_cache_inputs(kind, text);";

/* v7: the repositories each blob was pulled from or pushed to, by registry, so that a push
 * mounts a blob from another repository of the same registry instead of sending it again. */
static const char schema_v7[] =
    "CREATE TABLE IF NOT EXISTS blob_sources ("
    "  digest TEXT NOT NULL,"
    "  registry TEXT NOT NULL,"
    "  repo TEXT NOT NULL,"
    "  seen INTEGER NOT NULL,"
    "  PRIMARY KEY (digest, registry, repo)) WITHOUT ROWID;";

/* v8: IPv6 on user networks: a network's IPv6 subnet (recorded as given, used only with
 * enable_ipv6) and the gateway given for it (NULL: the subnet's first address), and each
 * endpoint's IPv6 address. Columns are added only where missing, so that a store whose
 * version was set back (as the tests of older migrations do) takes it again. */
static const struct {
    const char *table, *column, *decl;
} schema_v8_columns[] = {
    {"networks", "subnet6", "TEXT"},
    {"networks", "gateway6", "TEXT"},
    {"networks", "enable_ipv6", "INTEGER NOT NULL DEFAULT 0"},
    {"endpoints", "ip6", "TEXT"},
};
static const char schema_v8[] =
    "CREATE UNIQUE INDEX IF NOT EXISTS endpoints_ip6 ON endpoints(network_id, ip6);";

/* SQLite's answer as an errno a caller can test: a taken unique key is EEXIST (a name in use),
 * any other failure keeps its own cause (a full disk is ENOSPC, not a conflict). */
static int sqlite_errno(int extended)
{
    switch (extended) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
        return EEXIST;
    default:
        break;
    }
    switch (extended & 0xff) {
    case SQLITE_CONSTRAINT:
        return EINVAL;
    case SQLITE_FULL:
        return ENOSPC;
    case SQLITE_READONLY:
        return EROFS;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return EBUSY;
    case SQLITE_NOMEM:
        return ENOMEM;
    case SQLITE_IOERR:
        return EIO;
    case SQLITE_PERM:
    case SQLITE_AUTH:
        return EACCES;
    case SQLITE_CANTOPEN:
        return ENOENT;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return EBADMSG;
    default:
        return 0;
    }
}

/* SQLite's message, with its cause in errnum (not appended: the message says it already). */
static int db_fail(tug_store *s, tug_error **err, const char *what, const char *msg)
{
    int e = sqlite_errno(sqlite3_extended_errcode(s->db));
    int r = tug_error_set(err, 0, "%s: %s", what, msg);
    if (err != NULL && *err != NULL)
        (*err)->errnum = e;
    return e > 0 ? -e : r;
}

static int db_error(tug_store *s, tug_error **err, const char *what)
{
    return db_fail(s, err, what, sqlite3_errmsg(s->db));
}

int tug_store_exec(tug_store *s, const char *sql, tug_error **err)
{
    char *msg = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        int r = db_fail(s, err, "database", msg ? msg : "error");
        sqlite3_free(msg);
        return r;
    }
    return 0;
}

static bool has_column(tug_store *s, const char *table, const char *column)
{
    sqlite3_stmt *st = NULL;
    bool found = false;
    if (sqlite3_prepare_v2(s->db, "SELECT 1 FROM pragma_table_info(?) WHERE name = ?", -1, &st,
                           NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, column, -1, SQLITE_STATIC);
        found = sqlite3_step(st) == SQLITE_ROW;
    }
    sqlite3_finalize(st);
    return found;
}

static int schema_v8_apply(tug_store *s, tug_error **err)
{
    for (size_t i = 0; i < TUG_ARRAY_SIZE(schema_v8_columns); i++) {
        if (has_column(s, schema_v8_columns[i].table, schema_v8_columns[i].column))
            continue;
        cleanup_free char *sql = NULL;
        if (asprintf(&sql, "ALTER TABLE %s ADD COLUMN %s %s", schema_v8_columns[i].table,
                     schema_v8_columns[i].column, schema_v8_columns[i].decl) < 0)
            return tug_error_set(err, ENOMEM, "database");
        if (tug_store_exec(s, sql, err) < 0)
            return -1;
    }
    return tug_store_exec(s, schema_v8, err);
}

int tug_store_begin(tug_store *s, tug_error **err)
{
    return tug_store_exec(s, "BEGIN IMMEDIATE", err);
}

int tug_store_commit(tug_store *s, tug_error **err)
{
    return tug_store_exec(s, "COMMIT", err);
}

void tug_store_rollback(tug_store *s)
{
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

const char *tug_store_default_root(void)
{
    const char *r = getenv("TUG_ROOT");
    return r && *r ? r : "/var/lib/tug";
}

/* Statements done with, kept for the next prepare of the same text: listing 100 containers
 * runs the same few queries per container, and parsing them again each time was a fifth of
 * the work. A statement in use is not here (it is taken out when handed out); a store's are
 * finalized before its connection closes. */
#define STMT_CACHE 48
static struct {
    sqlite3_stmt *st[STMT_CACHE];
    size_t n;
    pthread_mutex_t lock;
} idle = {.lock = PTHREAD_MUTEX_INITIALIZER};

static sqlite3_stmt *cache_take(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *found = NULL;
    pthread_mutex_lock(&idle.lock);
    for (size_t i = 0; i < idle.n; i++) {
        if (sqlite3_db_handle(idle.st[i]) == db && strcmp(sqlite3_sql(idle.st[i]), sql) == 0) {
            found = idle.st[i];
            idle.st[i] = idle.st[--idle.n];
            break;
        }
    }
    pthread_mutex_unlock(&idle.lock);
    return found;
}

void tug_db_release(sqlite3_stmt *st)
{
    if (st == NULL)
        return;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    pthread_mutex_lock(&idle.lock);
    sqlite3_stmt *out = NULL;
    if (idle.n == STMT_CACHE) { /* the oldest goes */
        out = idle.st[0];
        memmove(idle.st, idle.st + 1, (STMT_CACHE - 1) * sizeof(idle.st[0]));
        idle.n--;
    }
    idle.st[idle.n++] = st;
    pthread_mutex_unlock(&idle.lock);
    sqlite3_finalize(out);
}

/* Finalize the kept statements of db: before it closes. */
static void cache_drop(sqlite3 *db)
{
    if (db == NULL)
        return;
    pthread_mutex_lock(&idle.lock);
    for (size_t i = 0; i < idle.n;) {
        if (sqlite3_db_handle(idle.st[i]) == db) {
            sqlite3_finalize(idle.st[i]);
            idle.st[i] = idle.st[--idle.n];
        } else {
            i++;
        }
    }
    pthread_mutex_unlock(&idle.lock);
}

static int open_db(tug_store *s, tug_error **err)
{
    cleanup_free char *path = NULL;
    if (asprintf(&path, "%s/tug.db", s->root) < 0)
        return tug_error_set(err, ENOMEM, "database");
    int rc = sqlite3_open_v2(path, &s->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                             NULL);
    if (rc != SQLITE_OK)
        return tug_error_set(err, 0, "open database %s: %s", path,
                             s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
    sqlite3_busy_timeout(s->db, 30000);
    /* Every command is a short process and usually the last connection: checkpointing the WAL
     * on each close would add two syncs to every command. Checkpoints happen as the WAL grows. */
    sqlite3_db_config(s->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
    /* WAL lets readers run beside a writer; NORMAL sync is crash-safe for a killed process; a
     * small WAL (checkpointed every 100 pages) keeps each open from reading megabytes. */
    /* Turning a new database to WAL takes an exclusive lock without waiting on the busy
     * handler: two commands opening a new store at once see SQLITE_BUSY here and try again. */
    for (int attempt = 0;; attempt++) {
        rc = sqlite3_exec(s->db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL);
        if (rc == SQLITE_OK)
            break;
        if ((rc != SQLITE_BUSY && rc != SQLITE_LOCKED) || attempt == 3000)
            return tug_error_set(err, 0, "open database %s: %s", path, sqlite3_errmsg(s->db));
        struct timespec ts = {0, 1000000 + (attempt % 7) * 300000};
        nanosleep(&ts, NULL);
    }
    if (tug_store_exec(s, "PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=100;"
                          "PRAGMA foreign_keys=ON;",
                       err) < 0)
        return tug_error_wrap(err, "open database %s", path);
    sqlite3_stmt *st = NULL;
    int version = 0;
    if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (version > SCHEMA_VERSION)
        return tug_error_user(err,
                              "store %s was written by a newer tug (schema %d, this tug knows %d); "
                              "upgrade tug",
                              s->root, version, SCHEMA_VERSION);
    if (version < SCHEMA_VERSION) {
        if (tug_store_begin(s, err) < 0)
            return tug_error_wrap(err, "open database %s", path);
        char pragma[64];
        snprintf(pragma, sizeof(pragma), "PRAGMA user_version=%d", SCHEMA_VERSION);
        /* Each version's statements are idempotent: a store at version N takes the rest. */
        if ((version < 1 && tug_store_exec(s, schema_v1, err) < 0) ||
            (version < 2 && tug_store_exec(s, schema_v2, err) < 0) ||
            (version < 3 && tug_store_exec(s, schema_v3, err) < 0) ||
            (version < 4 && tug_store_exec(s, schema_v4, err) < 0) ||
            (version < 5 && tug_store_exec(s, schema_v5, err) < 0) ||
            (version < 6 && tug_store_exec(s, schema_v6, err) < 0) ||
            (version < 7 && tug_store_exec(s, schema_v7, err) < 0) ||
            (version < 8 && schema_v8_apply(s, err) < 0) ||
            tug_store_exec(s, pragma, err) < 0) {
            tug_store_rollback(s);
            return tug_error_wrap(err, "create schema in %s", path);
        }
        if (tug_store_commit(s, err) < 0)
            return tug_error_wrap(err, "create schema in %s", path);
    }
    return 0;
}

int tug_store_open(const char *root, tug_store **ret_store, tug_error **err)
{
    tug_store *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return tug_error_set(err, ENOMEM, "open store");
    cleanup_store tug_store *guard = s;
    s->root = strdup(root);
    static const char *dirs[] = {"", "/blobs/sha256", "/layers", "/ingest", "/tmp"};
    for (size_t i = 0; i < TUG_ARRAY_SIZE(dirs); i++) {
        cleanup_free char *d = NULL;
        if (asprintf(&d, "%s%s", root, dirs[i]) < 0)
            return tug_error_set(err, ENOMEM, "open store");
        if (tug_mkdir_p(d, 0700, err) < 0)
            return tug_error_wrap(err, "open store %s", root);
    }
    /* One name for one store, whatever way it was reached: a relative --root or a symlink must
     * not give the same store a second run directory, bridge or owner mark. */
    char *real = realpath(root, NULL);
    if (real) {
        free(s->root);
        s->root = real;
    }
    if (open_db(s, err) < 0)
        return -1;
    *ret_store = steal_pointer(&guard);
    return 0;
}

void tug_store_close(tug_store *s)
{
    if (s == NULL)
        return;
    if (s->db) {
        cache_drop(s->db);
        sqlite3_close(s->db);
    }
    free(s->root);
    free(s);
}

void tug_store_closep(tug_store **s)
{
    tug_store_close(*s);
}

int tug_store_disconnect(tug_store *s, tug_error **err)
{
    cache_drop(s->db);
    if (s->db && sqlite3_close(s->db) != SQLITE_OK)
        return tug_error_set(err, EBUSY, "close database %s: %s", s->root, sqlite3_errmsg(s->db));
    s->db = NULL;
    return 0;
}

int tug_store_reconnect(tug_store *s, tug_error **err)
{
    if (s->db)
        return 0;
    if (open_db(s, err) == 0)
        return 0;
    cache_drop(s->db);
    sqlite3_close(s->db);
    s->db = NULL;
    return -1;
}

sqlite3_stmt *tug_db_prepare(tug_store *s, const char *sql, tug_error **err)
{
    sqlite3_stmt *st = cache_take(s->db, sql);
    if (st)
        return st;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
        db_error(s, err, "database");
        return NULL;
    }
    return st;
}

int tug_db_step_done(tug_store *s, sqlite3_stmt *st, tug_error **err)
{
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return db_error(s, err, "database");
    return 0;
}

char *tug_db_col_text(sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    return t ? strdup((const char *)t) : NULL;
}
