/* Statement helpers shared by the store's modules. */
#pragma once
#include <sqlite3.h>

#include "store.h"

sqlite3_stmt *tug_db_prepare(tug_store *s, const char *sql, tug_error **err);
/* Step once; an error unless the step gave a row or finished. */
int tug_db_step_done(tug_store *s, sqlite3_stmt *st, tug_error **err);
char *tug_db_col_text(sqlite3_stmt *st, int col);

/* Done with a statement: reset and kept for the next tug_db_prepare of the same text (the
 * store finalizes it when it closes). sqlite3_finalize is fine too. */
void tug_db_release(sqlite3_stmt *st);
static inline void tug_db_finalizep(sqlite3_stmt **st)
{
    tug_db_release(*st);
}
#define cleanup_stmt __attribute__((cleanup(tug_db_finalizep)))

#define BIND_TEXT(st, i, s) sqlite3_bind_text((st), (i), (s), -1, SQLITE_TRANSIENT)
