/* The same lookups with elfutils' libdw, for comparison: reads "DWARF-FILE ADDRESS" lines, opens
 * each file once (dwarf_begin), and for each address finds its unit, line and inlined scopes.
 * Prints milliseconds for N cold rounds (everything opened again), as JSON. */
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

int main(int argc, char **argv) {
    int rounds = argc > 1 ? atoi(argv[1]) : 10;
    char files[64][4096];
    unsigned long long addresses[64];
    int n = 0;
    while (n < 64 && scanf("%4095s %llx", files[n], &addresses[n]) == 2) n++;
    double best[64];
    int lined = 0;
    for (int r = 0; r < rounds; r++) {
        double start = now();
        Dwarf *opened[64] = {0};
        int fds[64];
        lined = 0;
        for (int i = 0; i < n; i++) {
            int j = 0;
            while (j < i && strcmp(files[j], files[i]) != 0) j++;
            if (j == i) {
                fds[i] = open(files[i], O_RDONLY);
                opened[i] = dwarf_begin(fds[i], DWARF_C_READ);
            }
            Dwarf *dw = opened[j];
            Dwarf_Die cu;
            if (!dw || !dwarf_addrdie(dw, addresses[i], &cu)) continue;
            Dwarf_Line *line = dwarf_getsrc_die(&cu, addresses[i]);
            int number = 0;
            if (line && dwarf_lineno(line, &number) == 0 && number > 0 && dwarf_linesrc(line, NULL, NULL)) lined++;
            Dwarf_Die *scopes = NULL;
            int count = dwarf_getscopes(&cu, addresses[i], &scopes);
            for (int k = 0; k < count; k++) (void)dwarf_diename(&scopes[k]);
            free(scopes);
        }
        for (int i = 0; i < n; i++) if (opened[i]) { dwarf_end(opened[i]); close(fds[i]); }
        best[r] = now() - start;
    }
    /* median */
    for (int i = 0; i < rounds; i++)
        for (int j = i + 1; j < rounds; j++)
            if (best[j] < best[i]) { double t = best[i]; best[i] = best[j]; best[j] = t; }
    printf("{\"frames\": %d, \"lined\": %d, \"coldLines\": %.2f}\n", n, lined, best[rounds / 2]);
    return 0;
}
