/* placeholder */
typedef int tug_placeholder_gc;
