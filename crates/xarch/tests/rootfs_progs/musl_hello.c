#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(int argc, char **argv) { char *p = malloc(100); strcpy(p, "musl"); printf("hello from %s %d\n", p, argc); return 3; }
