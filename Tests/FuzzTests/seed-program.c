/* Seed program for the ELF and DWARF fuzz targets: static and exported functions, calls that
 * the optimiser inlines (nested), a loop, and a second source file's worth of line entries via
 * an included header-like block. */
#include <stdio.h>
#include <stdlib.h>

static inline int square(int x) { return x * x; }

static inline int sum_of_squares(int n) {
    int s = 0;
    for (int i = 0; i < n; i++) s += square(i) ^ (s >> 3);
    return s;
}

__attribute__((noinline)) static int helper(int x) { return sum_of_squares(x) + 1; }

__attribute__((noinline)) int exported_entry(int x) { return helper(x) * 3; }

struct point { int x, y; };

__attribute__((noinline)) int distance2(const struct point *a, const struct point *b) {
    int dx = a->x - b->x, dy = a->y - b->y;
    return square(dx) + square(dy);
}

int main(int argc, char **argv) {
    struct point p = {argc, 2}, q = {atoi(argc > 1 ? argv[1] : "3"), 5};
    printf("%d %d\n", exported_entry(argc + 10), distance2(&p, &q));
    return 0;
}
