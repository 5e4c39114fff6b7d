/*
 * sanitizer_support.c - what the sanitizer builds of the suites need from
 * outside the code under test. Linked into every SAN= suite and built
 * without the sanitizers itself.
 */
#include <stdlib.h>

/* Criterion (through BoxFort) maps its shared arena at an address it draws
 * with rand_r() from 0x2000'0000'0000 to 0x6000'0000'0000, and insists on
 * that address (MAP_FIXED). ThreadSanitizer keeps nearly all of that range
 * for its shadow memory, so Criterion aborts at start: "Could not initialize
 * inheritable arena" (Criterion issue #274). The one part of the range that
 * ThreadSanitizer leaves to programs starts at 0x5500'0000'0000; this rand_r
 * steers the draws to 0x5670'0000'0000 and up, past where a program and its
 * heap load. BoxFort still checks that each address is free before it maps.
 * Nothing under test calls rand_r. */
#define FIRST_DRAW 0x367000u    /* (0x5670'0000'0000 - 0x2000'0000'0000) >> 24 */

int rand_r(unsigned *seed) {
    (void)seed;
    static unsigned draws;
    return (int)(FIRST_DRAW + __atomic_fetch_add(&draws, 1, __ATOMIC_RELAXED));
}

/* Criterion's runner, the process that starts the test processes, leaks a
 * little of its own (libcriterion 2.4.1), and LeakSanitizer would then fail
 * a suite whose every test passed. So the runner's allocations are not
 * looked at; the test processes, which BoxFort marks with BXFI_MAP in their
 * environment, are, in full. (Weak: only AddressSanitizer has it.) */
void __lsan_disable(void) __attribute__((weak));

__attribute__((constructor)) static void ignore_the_runners_leaks(void) {
    if (__lsan_disable && !getenv("BXFI_MAP"))
        __lsan_disable();
}
