/* Random container names: "adjective_surname", from tug's own word lists. */
#pragma once
#include <stddef.h>

/* Write a random name into buf; attempt > 0 appends a digit, as docker does after a clash. */
void tug_random_name(char *buf, size_t size, int attempt);
/* Container names: [a-zA-Z0-9][a-zA-Z0-9_.-]+, as docker accepts them. */
int tug_name_valid(const char *name);
