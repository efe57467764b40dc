/* Dockerfile word processing as BuildKit's shell lexer does it (frontend/dockerfile/shell):
 * variable expansion, quote removal and word splitting. Pure functions: no I/O, no globals.
 *
 * What a word goes through (escape is the Dockerfile's escape character, '\\' or '`'):
 * - 'single quotes': everything up to the next ' is literal; there is no escape inside.
 * - "double quotes": literal except $ (expanded) and the escape character, which escapes only
 *   " $ and itself ("a\tb" keeps its backslash); an escape right before the end is dropped.
 * - the escape character outside quotes takes the next character literally (\$X is "$X",
 *   "\ " a space that does not split words); one at the very end is dropped.
 * - $NAME and ${NAME}: NAME is [A-Za-z0-9_]+, a run of digits ($1, $001 -> "1", "001"), or one
 *   of the special parameters @ * # ? - $ ! 0. The lookup decides every value: an unset name
 *   expands to "". A $ followed by anything else is a literal $ ("$." stays "$.").
 * - ${NAME-word}  word when NAME is unset         ${NAME:-word}  ... unset or empty
 *   ${NAME+word}  word when NAME is set           ${NAME:+word}  ... set and not empty
 *   ${NAME?msg}   error "NAME: msg" when unset    ${NAME:?msg}   ... unset or empty
 *                 (msg defaults to "is not allowed to be unset" / "... empty")
 *   ${NAME#pat} ${NAME##pat}  remove the shortest / longest prefix matching pat
 *   ${NAME%pat} ${NAME%%pat}  remove the shortest / longest suffix matching pat
 *   ${NAME/pat/repl}  replace the first match (longest at the leftmost place)
 *   ${NAME//pat/repl} replace every match
 *   word, msg, pat and repl are themselves expanded; pat is a glob of * and ? (neither
 *   matches a newline, as in BuildKit's regexp translation), \* \? \\ are literal, \} and \/
 *   stand for } and /, and any other \x is an error. repl keeps its backslashes.
 * - Errors (tug_error of kind TUG_ERR_USER): an unterminated quote, a missing }, ${} ${:} ${{,
 *   ${NAME:=x} and any other modifier BuildKit does not have (:= = :# :% ...), ${NAME?} failing,
 *   a bad escape in a pattern.
 *
 * Where tug differs from BuildKit on purpose (all in inputs nobody writes on purpose):
 * names are ASCII (BuildKit also takes non-ASCII letters), invalid UTF-8 passes through
 * unchanged (Go replaces it with U+FFFD), a NUL ends the word, nesting deeper than 1000 ${...}
 * is an error, and tug_shell_words keeps the text before a ${NAME:-w} in the same word
 * (BuildKit's ProcessWords loses it: "a${X:-b}" gives "b" there, "ab" here).
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "../util/error.h"
#include "../util/strutil.h"

/* Look NAME up: return true and set *ret_value (read before the next lookup; it is copied)
 * when it is set, an empty value included; false when unset. Called once for every variable
 * the word refers to, in order, so a caller can record which ENV/ARG names a step used (the
 * build cache key needs the args an instruction uses). NULL: every name is unset. */
typedef bool (*tug_shell_lookup)(const char *name, const char **ret_value, void *userdata);

/* BuildKit's ProcessWord: expand one word, remove its quotes and escapes; whitespace inside
 * stays ("a  b" -> "a  b", with quotes or without). *ret is a new string. */
int tug_shell_expand(const char *word, char escape, tug_shell_lookup lookup, void *userdata,
                     char **ret, tug_error **err);

/* BuildKit's ProcessWords: expand, then split into words at unquoted, unescaped whitespace;
 * text from a $VAR splits too, text from quotes does not. An empty quoted word ("") makes no
 * word. *ret is a NULL-terminated array of new strings (cleanup_strv frees it); *ret_n, if not
 * NULL, gets its length. */
int tug_shell_words(const char *word, char escape, tug_shell_lookup lookup, void *userdata,
                    char ***ret, size_t *ret_n, tug_error **err);

/* The lexer with all of BuildKit's switches, for the parser's own uses (heredoc names, COPY
 * heredoc bodies). The functions above are this with all switches off. */
typedef struct tug_shell_opts {
    char escape;      /* '\\' or '`' */
    bool raw_quotes;  /* keep the quote characters in the result */
    bool raw_escapes; /* keep the escape characters in the result */
    bool skip_quotes; /* quotes are ordinary characters (heredoc bodies) */
    bool keep_unset;  /* an unset $X / ${X...} stays as written instead of expanding */
    tug_shell_lookup lookup;
    void *userdata;
} tug_shell_opts;

/* Process len bytes of word: the joined result into *ret_word and/or the split words into
 * *ret_words (NULL-terminated), each only when its pointer is not NULL. */
int tug_shell_process(const char *word, size_t len, const tug_shell_opts *opts, char **ret_word,
                      char ***ret_words, tug_error **err);


/* Control characters in s (untrusted text on its way into a message) become '?'. */
void tug_shell_printable(char *s);

/* Go's utf8.DecodeRune: the code point at s (n > 0 bytes) and its length; an invalid or cut
 * sequence is U+FFFD of length 1. */
int tug_utf8_decode(const char *s, size_t n, size_t *ret_len);
/* Go's unicode.IsSpace. */
bool tug_unicode_space(int rune);
