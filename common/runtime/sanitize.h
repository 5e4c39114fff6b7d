/*
 * sanitize.h - what the sanitizers must be told about fibers.
 *
 * AddressSanitizer must know which stack is live (start/finish_switch_fiber)
 * and that a reused stack is clean; ThreadSanitizer must know each fiber as a
 * thread of its own. Without a sanitizer these compile to nothing.
 */
#ifndef SANITIZE_H
#define SANITIZE_H

#include <stddef.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SAN_ASAN 1
#endif
#if __has_feature(thread_sanitizer)
#define SAN_TSAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define SAN_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__)
#define SAN_TSAN 1
#endif

#ifdef SAN_ASAN
void __sanitizer_start_switch_fiber(void **fake_stack_save, const void *bottom,
                                    size_t size);
void __sanitizer_finish_switch_fiber(void *fake_stack_save,
                                     const void **bottom_old, size_t *size_old);
void __asan_unpoison_memory_region(const volatile void *addr, size_t size);

static inline void san_switch_start(void **fake_save, const void *bottom, size_t size) {
    __sanitizer_start_switch_fiber(fake_save, bottom, size);
}
static inline void san_switch_finish(void *fake_save) {
    __sanitizer_finish_switch_fiber(fake_save, NULL, NULL);
}
static inline void san_stack_clean(void *stack, size_t size) {
    __asan_unpoison_memory_region(stack, size);
}
#else
static inline void san_switch_start(void **fake_save, const void *bottom, size_t size) {
    (void)fake_save, (void)bottom, (void)size;
}
static inline void san_switch_finish(void *fake_save) { (void)fake_save; }
static inline void san_stack_clean(void *stack, size_t size) { (void)stack, (void)size; }
#endif

#ifdef SAN_TSAN
void *__tsan_get_current_fiber(void);
void *__tsan_create_fiber(unsigned flags);
void __tsan_destroy_fiber(void *fiber);
void __tsan_switch_to_fiber(void *fiber, unsigned flags);

static inline void *san_fiber_current(void) { return __tsan_get_current_fiber(); }
static inline void *san_fiber_create(void) { return __tsan_create_fiber(0); }
static inline void san_fiber_destroy(void *f) { __tsan_destroy_fiber(f); }
static inline void san_fiber_switch(void *f) { __tsan_switch_to_fiber(f, 0); }
#else
static inline void *san_fiber_current(void) { return NULL; }
static inline void *san_fiber_create(void) { return NULL; }
static inline void san_fiber_destroy(void *f) { (void)f; }
static inline void san_fiber_switch(void *f) { (void)f; }
#endif

#endif
