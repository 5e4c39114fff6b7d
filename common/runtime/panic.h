/*
 * panic.h - stopping the node when one of its own invariants is broken.
 */
#ifndef PANIC_H
#define PANIC_H

/* Prints "panic: <message>" to stderr and aborts. For broken invariants of
 * the runtime, never for errors a caller can handle. */
_Noreturn void panic(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
