/*
 * modules.c - walks dl_iterate_phdr to describe the loaded objects (see modules.h).
 */
#define _GNU_SOURCE
#include "modules.h"

#include <elf.h>
#include <link.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct walk {
    module_visit_fn visit;
    void *arg;
    int index;
    char interp[256];          /* the main program's PT_INTERP */
};

static size_t note_align(size_t n, size_t align)
{
    return (n + align - 1) & ~(align - 1);
}

static void read_build_id(const struct dl_phdr_info *info, struct module_info *mod)
{
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_NOTE)
            continue;
        const char *p = (const char *)(info->dlpi_addr + ph->p_vaddr);
        const char *end = p + ph->p_memsz;
        size_t align = ph->p_align >= 4 ? ph->p_align : 4;
        while (p + sizeof(ElfW(Nhdr)) <= end) {
            const ElfW(Nhdr) *note = (const ElfW(Nhdr) *)p;
            const char *name = p + sizeof *note;
            const char *desc = name + note_align(note->n_namesz, align);
            if (desc + note->n_descsz > end)
                break;
            if (note->n_type == NT_GNU_BUILD_ID && note->n_namesz == 4 &&
                memcmp(name, "GNU", 4) == 0 && note->n_descsz <= MODULE_BUILD_ID_MAX) {
                memcpy(mod->build_id, desc, note->n_descsz);
                mod->build_id_len = note->n_descsz;
                return;
            }
            p = desc + note_align(note->n_descsz, align);
        }
    }
}

static void load_range(const struct dl_phdr_info *info, uintptr_t *start, uintptr_t *end)
{
    *start = UINTPTR_MAX;
    *end = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        uintptr_t hi = lo + ph->p_memsz;
        if (lo < *start)
            *start = lo;
        if (hi > *end)
            *end = hi;
    }
}

static int visit_one(struct dl_phdr_info *info, size_t size, void *data)
{
    struct walk *w = data;
    struct module_info mod;
    char exe[PATH_MAX];

    (void)size;
    memset(&mod, 0, sizeof mod);
    mod.base = info->dlpi_addr;
    mod.path = info->dlpi_name;
    if (w->index == 0) {
        for (int i = 0; i < info->dlpi_phnum; i++)
            if (info->dlpi_phdr[i].p_type == PT_INTERP)
                snprintf(w->interp, sizeof w->interp, "%s",
                         (const char *)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr));
    }
    if (w->index++ == 0 && (mod.path == NULL || mod.path[0] == '\0')) {
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        exe[n > 0 ? n : 0] = '\0';
        mod.path = exe;
        mod.is_main = 1;
    }
    if (mod.path == NULL || mod.path[0] == '\0')
        return 0;
    load_range(info, &mod.start, &mod.end);
    if (mod.start >= mod.end)
        return 0;
    read_build_id(info, &mod);
    mod.is_loader = w->interp[0] && strcmp(mod.path, w->interp) == 0;
    w->visit(&mod, w->arg);
    return 0;
}

void modules_for_each(module_visit_fn visit, void *arg)
{
    struct walk w = { visit, arg, 0, "" };
    dl_iterate_phdr(visit_one, &w);
}

struct range_query {
    uintptr_t addr, start, end;
    int found;
};

static int find_range(struct dl_phdr_info *info, size_t size, void *data)
{
    struct range_query *q = data;
    uintptr_t start, end;

    (void)size;
    load_range(info, &start, &end);
    if (q->addr >= start && q->addr < end) {
        q->start = start;
        q->end = end;
        q->found = 1;
        return 1;
    }
    return 0;
}

int module_range_of(const void *addr, uintptr_t *start, uintptr_t *end)
{
    struct range_query q = { (uintptr_t)addr, 0, 0, 0 };

    dl_iterate_phdr(find_range, &q);
    if (!q.found)
        return -1;
    *start = q.start;
    *end = q.end;
    return 0;
}
