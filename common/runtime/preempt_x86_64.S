/*
 * preempt_x86_64.S - where a preempted process goes (System V x86-64).
 *
 * The SIGURG handler (preempt.c) makes the interrupted code "call" here:
 * it skipped the 128-byte red zone, pushed the interrupted instruction's
 * address, and resumed here. Nothing the interrupted code holds may
 * change: every general register, the flags, and the whole x87/SSE/AVX
 * state (xsave with the mask and area preempt.c found, or fxsave) are
 * saved on the process's own stack, erl_preempt_yield switches away and
 * back, and everything is put back before `ret $128` returns to the
 * interrupted instruction with the stack pointer it had.
 */
        .text

        .globl  erl_preempt_trampoline
        .type   erl_preempt_trampoline, @function
erl_preempt_trampoline:
        .cfi_startproc
        .cfi_signal_frame
        pushfq
        pushq   %rax
        pushq   %rcx
        pushq   %rdx
        pushq   %rbx
        pushq   %rbp
        pushq   %rsi
        pushq   %rdi
        pushq   %r8
        pushq   %r9
        pushq   %r10
        pushq   %r11
        pushq   %r12
        pushq   %r13
        pushq   %r14
        pushq   %r15
        movq    %rsp, %rbx              /* callee-saved: where the pushes end */
        subq    erl_preempt_area(%rip), %rsp
        andq    $-64, %rsp              /* xsave's alignment (and the call's) */
        cld                             /* the ABI's direction flag for the call */
        cmpl    $0, erl_preempt_xsave(%rip)
        je      1f
        xorl    %eax, %eax              /* the xsave header must start zeroed */
        movq    %rax, 512(%rsp)
        movq    %rax, 520(%rsp)
        movq    %rax, 528(%rsp)
        movq    %rax, 536(%rsp)
        movq    %rax, 544(%rsp)
        movq    %rax, 552(%rsp)
        movq    %rax, 560(%rsp)
        movq    %rax, 568(%rsp)
        movl    erl_preempt_mask(%rip), %eax
        movl    erl_preempt_mask+4(%rip), %edx
        xsave   (%rsp)
        call    erl_preempt_yield
        movl    erl_preempt_mask(%rip), %eax
        movl    erl_preempt_mask+4(%rip), %edx
        xrstor  (%rsp)
        jmp     2f
1:      fxsave  (%rsp)
        call    erl_preempt_yield
        fxrstor (%rsp)
2:      movq    %rbx, %rsp
        popq    %r15
        popq    %r14
        popq    %r13
        popq    %r12
        popq    %r11
        popq    %r10
        popq    %r9
        popq    %r8
        popq    %rdi
        popq    %rsi
        popq    %rbp
        popq    %rbx
        popq    %rdx
        popq    %rcx
        popq    %rax
        popfq
        ret     $128                    /* to the interrupted instruction; skips the red zone */
        .cfi_endproc
        .size   erl_preempt_trampoline, .-erl_preempt_trampoline

        .section .note.GNU-stack,"",@progbits
