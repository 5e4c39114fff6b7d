/*
 * code_text.c - where a shared object's preemptible code lies: its section
 * erl_user_text, as the build makes it (common.mk's USER_TEXT renames an
 * object's .text before it is linked into the shared object).
 *
 * The section's name is known only to the file's section headers, which
 * are not loaded; so they are read from the file itself, the private copy
 * code.c maps, before it is removed. The range in memory is then the
 * object's load base plus the section's address (code.c adds it).
 */
#include <elf.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "code_impl.h"

/* Reads n bytes at off of fd into buf. Returns 0, or -1 when short. */
static int read_at(int fd, void *buf, size_t n, off_t off)
{
    return pread(fd, buf, n, off) == (ssize_t)n ? 0 : -1;
}

/* True when eh is a 64-bit little-endian ELF shared object for this
 * machine with section headers of the expected size. */
static bool usable(const Elf64_Ehdr *eh)
{
    return memcmp(eh->e_ident, ELFMAG, SELFMAG) == 0 && eh->e_ident[EI_CLASS] == ELFCLASS64 &&
           eh->e_ident[EI_DATA] == ELFDATA2LSB && eh->e_type == ET_DYN &&
           eh->e_machine == EM_X86_64 && eh->e_shentsize == sizeof(Elf64_Shdr) &&
           eh->e_shnum > 0 && eh->e_shstrndx < eh->e_shnum;
}

/* The section erl_user_text among the n headers sh, named in strtab's
 * len bytes; NULL when there is none or it holds no code. */
static const Elf64_Shdr *find_user_text(const Elf64_Shdr *sh, size_t n, const char *strtab,
                                        size_t len)
{
    static const char name[] = "erl_user_text";
    for (size_t i = 0; i < n; i++) {
        size_t at = sh[i].sh_name;
        if (at + sizeof name <= len && memcmp(strtab + at, name, sizeof name) == 0)
            return (sh[i].sh_flags & SHF_EXECINSTR) && sh[i].sh_size ? &sh[i] : NULL;
    }
    return NULL;
}

int code_user_text(int fd, uintptr_t *addr, size_t *size)
{
    Elf64_Ehdr eh;
    if (read_at(fd, &eh, sizeof eh, 0) < 0 || !usable(&eh))
        return -1;
    size_t n = eh.e_shnum;
    Elf64_Shdr *sh = malloc(n * sizeof *sh);
    char *strtab = NULL;
    int rc = -1;
    if (!sh || read_at(fd, sh, n * sizeof *sh, (off_t)eh.e_shoff) < 0)
        goto out;
    const Elf64_Shdr *names = &sh[eh.e_shstrndx];
    if (names->sh_size > (1u << 20) || !(strtab = malloc(names->sh_size + 1)) ||
        read_at(fd, strtab, names->sh_size, (off_t)names->sh_offset) < 0)
        goto out;
    const Elf64_Shdr *t = find_user_text(sh, n, strtab, names->sh_size);
    if (t) {
        *addr = t->sh_addr;
        *size = t->sh_size;
        rc = 0;
    }
out:
    free(strtab);
    free(sh);
    return rc;
}
