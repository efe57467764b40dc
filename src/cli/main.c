#include <stdio.h>
int main(void) { puts("tug"); return 0; }
