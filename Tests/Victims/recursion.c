/* The main thread waits in pause() under 26 nested calls of one function: every level returns to
 * the same address, on its own stack frame, so its stack has 30 frames (pause, 26 x descend, main
 * and libc's two start frames). Built with -O0 -g by the tests and by Scripts/bench-symbols.
 * Prints "ready PID 0" once there. */
#include <stdio.h>
#include <unistd.h>

__attribute__((noinline)) static int descend(int depth) {
    if (depth == 0) {
        printf("ready %d 0\n", (int)getpid());
        fflush(stdout);
        for (;;) pause();
    }
    return descend(depth - 1) + 1;
}

int main(void) { return descend(25); }
