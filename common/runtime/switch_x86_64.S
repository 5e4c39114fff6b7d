/*
 * switch_x86_64.S - the context switch between processes (System V x86-64).
 *
 * A suspended context is just a stack pointer: the callee-saved registers,
 * the SSE and x87 control words and the return address sit on its stack.
 */
        .text

/* void ctx_switch(void **save_sp, void *load_sp)
 * Saves the caller's context, stores its stack pointer in *save_sp, and
 * resumes the context whose stack pointer is load_sp. Returns when some other
 * ctx_switch resumes the saved context. */
        .globl  ctx_switch
        .type   ctx_switch, @function
ctx_switch:
        .cfi_startproc
        pushq   %rbp
        pushq   %rbx
        pushq   %r12
        pushq   %r13
        pushq   %r14
        pushq   %r15
        subq    $8, %rsp
        stmxcsr (%rsp)
        fnstcw  4(%rsp)
        movq    %rsp, (%rdi)
        movq    %rsi, %rsp
        ldmxcsr (%rsp)
        fldcw   4(%rsp)
        addq    $8, %rsp
        popq    %r15
        popq    %r14
        popq    %r13
        popq    %r12
        popq    %rbx
        popq    %rbp
        ret
        .cfi_endproc
        .size   ctx_switch, .-ctx_switch

/* The first code a new context runs: calls r12(r13) and never returns.
 * fiber_make leaves r12 = entry function, r13 = its argument. */
        .globl  ctx_start
        .type   ctx_start, @function
ctx_start:
        .cfi_startproc
        .cfi_undefined rip
        movq    %r13, %rdi
        callq   *%r12
        ud2
        .cfi_endproc
        .size   ctx_start, .-ctx_start

        .section .note.GNU-stack,"",@progbits
