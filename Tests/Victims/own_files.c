/* Two builds of this program differ only in their function names: -DVARIANT=inner and
 * -DVARIANT=outer (names of one length, so the code and its offsets are the same). One runs while
 * the other is at its path somewhere else: a frame named after the other is named from the wrong
 * file. Prints "ready PID 0" on stdout, then waits in pause() inside VARIANT_wait. */
#include <stdio.h>
#include <unistd.h>

#define JOIN2(a, b) a##b
#define JOIN(a, b) JOIN2(a, b)
#define NAME(x) JOIN(VARIANT, x)

__attribute__((noinline)) static void NAME(_wait)(void) {
    for (;;) pause();
}

__attribute__((noinline)) void NAME(_entry)(void) {
    printf("ready %d 0\n", (int)getpid());
    fflush(stdout);
    NAME(_wait)();
}

int main(void) {
    NAME(_entry)();
    return 0;
}
