/*
 * realign: 3,000 allocations made through two functions whose caller's frame
 * is not at a constant distance from rsp, entered at different stack
 * alignments: one realigns its stack and finds its caller's frame through a
 * pointer it saved (as functions built with -mstackrealign, or needing
 * over-aligned locals, do), one addresses its frame from rbx (hand-written
 * assembly may).  Both carry DWARF rules that say so.  Prints the blocks made.
 */
#include <stdio.h>
#include <stdlib.h>

void call_realigned(void (*fn)(long), long arg);
void call_from_rbx(void (*fn)(long), long arg);

/* CFA = *(rsp): DW_CFA_def_cfa_expression { DW_OP_breg7 (rsp) 0, DW_OP_deref } */
__asm__(".text\n"
        ".globl call_realigned\n"
        ".type call_realigned, @function\n"
        "call_realigned:\n"
        ".cfi_startproc\n"
        "    mov %rsp, %rax\n"
        "    and $-64, %rsp\n"
        "    sub $16, %rsp\n"
        "    lea 8(%rax), %rcx\n"
        "    mov %rcx, (%rsp)\n"
        ".cfi_escape 0x0f, 0x03, 0x77, 0x00, 0x06\n"
        "    mov %rax, 8(%rsp)\n"
        "    mov %rdi, %rax\n"
        "    mov %rsi, %rdi\n"
        "    call *%rax\n"
        "    mov 8(%rsp), %rsp\n"
        ".cfi_def_cfa %rsp, 8\n"
        "    ret\n"
        ".cfi_endproc\n"
        ".size call_realigned, .-call_realigned\n"
        /* CFA = rbx + 16, rbx saved at CFA - 16 */
        ".globl call_from_rbx\n"
        ".type call_from_rbx, @function\n"
        "call_from_rbx:\n"
        ".cfi_startproc\n"
        "    push %rbx\n"
        ".cfi_adjust_cfa_offset 8\n"
        ".cfi_rel_offset %rbx, 0\n"
        "    mov %rsp, %rbx\n"
        ".cfi_def_cfa_register %rbx\n"
        "    and $-64, %rsp\n"
        "    mov %rdi, %rax\n"
        "    mov %rsi, %rdi\n"
        "    call *%rax\n"
        "    mov %rbx, %rsp\n"
        ".cfi_def_cfa_register %rsp\n"
        "    pop %rbx\n"
        ".cfi_adjust_cfa_offset -8\n"
        ".cfi_restore %rbx\n"
        "    ret\n"
        ".cfi_endproc\n"
        ".size call_from_rbx, .-call_from_rbx\n");

static void *blocks[3000];
static int count;

__attribute__((noinline)) static void allocate(long size)
{
    blocks[count++] = malloc((size_t)size);
    __asm__ volatile("" ::: "memory");
}

/* n frames of 48 bytes before the call, so it is entered at every alignment mod 64. */
__attribute__((noinline)) static void descend(int n, int i)
{
    volatile char pad[24];

    pad[0] = (char)n;
    if (n > 0)
        descend(n - 1, i);
    else if (i % 2)
        call_realigned(allocate, 16 + i % 100);
    else
        call_from_rbx(allocate, 16 + i % 100);
    __asm__ volatile("" : : "r"(pad) : "memory");
}

int main(void)
{
    for (int i = 0; i < 3000; i++)
        descend(i % 8, i);
    int made = 0;
    for (int i = 0; i < count; i++)
        made += blocks[i] != NULL;
    printf("%d\n", made);
    for (int i = 0; i < count; i++)
        free(blocks[i]);
    return 0;
}
