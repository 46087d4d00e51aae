/*
 * symbolize.c - libdw symbolization (see symbolize.h).
 *
 * Each module of the dump is reported to an offline Dwfl at its recorded load
 * bias.  A lookup takes pc-1 (a return address points after the call),
 * names the function from the symbol table (demangled), the file:line from the
 * line table, and walks dwarf_getscopes for inlined subroutines the way
 * eu-addr2line -i does.  Results are cached per address.
 */
#define _GNU_SOURCE
#include "symbolize.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#define MAX_INLINE 16

char *__cxa_demangle(const char *mangled, char *out, size_t *len, int *status);

struct cached {
    UT_hash_handle hh;
    uint64_t pc;
    int count;
    struct sym_frame frames[];
};

struct symbolizer {
    Dwfl *dwfl;
    const struct ls_dump *dump;
    Dwfl_Module **dwfl_of;     /* per dump module: its Dwfl_Module, or NULL when unusable */
    struct cached *cache;
    char **problems;
    int nproblems;
    char **strings;            /* every string handed out, freed at close */
    size_t nstrings, cap_strings;
};

static char *debuginfo_path;
static const Dwfl_Callbacks offline_callbacks = {
    .find_elf = dwfl_build_id_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .section_address = dwfl_offline_section_address,
    .debuginfo_path = &debuginfo_path,
};

static const char *keep(struct symbolizer *s, char *str)
{
    if (!str)
        return NULL;
    if (s->nstrings == s->cap_strings) {
        size_t cap = s->cap_strings ? s->cap_strings * 2 : 256;
        char **grown = realloc(s->strings, cap * sizeof *grown);
        if (!grown) {
            free(str);
            return NULL;
        }
        s->strings = grown;
        s->cap_strings = cap;
    }
    s->strings[s->nstrings++] = str;
    return str;
}

/* The symbol's name without its ELF version ("__libc_start_main@@GLIBC_2.34"), demangled. */
static const char *demangled(struct symbolizer *s, const char *versioned)
{
    char name[1024];

    if (!versioned)
        return NULL;
    snprintf(name, sizeof name, "%.*s", (int)strcspn(versioned, "@"), versioned);
    if (name[0] == '_' && name[1] == 'Z') {
        int status = 0;
        char *d = __cxa_demangle(name, NULL, NULL, &status);
        if (d && status == 0)
            return keep(s, d);
        free(d);
    }
    return keep(s, strdup(name));
}

static void add_problem(struct symbolizer *s, const char *fmt, const char *path)
{
    char line[4200];
    char **grown = realloc(s->problems, (size_t)(s->nproblems + 1) * sizeof *grown);

    if (!grown)
        return;
    s->problems = grown;
    snprintf(line, sizeof line, fmt, path);
    s->problems[s->nproblems++] = strdup(line);
}

static int build_id_matches(Dwfl_Module *mod, const struct ls_module *m)
{
    const unsigned char *bits;
    GElf_Addr vaddr;
    int len = dwfl_module_build_id(mod, &bits, &vaddr);

    if (m->build_id_len == 0 || len <= 0)
        return 1;                      /* nothing to compare: trust the path */
    return (size_t)len == m->build_id_len && memcmp(bits, m->build_id, m->build_id_len) == 0;
}

struct symbolizer *symbolizer_open(const struct ls_dump *d)
{
    struct symbolizer *s = calloc(1, sizeof *s);

    if (!s)
        return NULL;
    s->dump = d;
    s->dwfl = dwfl_begin(&offline_callbacks);
    s->dwfl_of = calloc(d->nmodules + 1, sizeof *s->dwfl_of);
    if (!s->dwfl || !s->dwfl_of) {
        symbolizer_close(s);
        return NULL;
    }
    dwfl_report_begin(s->dwfl);
    for (size_t i = 0; i < d->nmodules; i++) {
        const struct ls_module *m = &d->modules[i];
        if (m->path[0] != '/')
            continue;                  /* the vdso and other loader-made objects have no file */
        Dwfl_Module *mod = dwfl_report_elf(s->dwfl, m->path, m->path, -1, m->base, false);
        if (!mod) {
            add_problem(s, "%s: cannot read it now; its frames show module+offset", m->path);
            continue;
        }
        if (!build_id_matches(mod, m)) {
            add_problem(s, "%s: changed since the dump (build-id differs); its frames show module+offset",
                        m->path);
            continue;
        }
        s->dwfl_of[i] = mod;
    }
    dwfl_report_end(s->dwfl, NULL, NULL);
    return s;
}

static const struct ls_module *module_of(const struct symbolizer *s, uint64_t pc, size_t *index)
{
    for (size_t i = 0; i < s->dump->nmodules; i++) {
        const struct ls_module *m = &s->dump->modules[i];
        if (pc >= m->start && pc < m->end) {
            *index = i;
            return m;
        }
    }
    return NULL;
}

static const char *die_function_name(struct symbolizer *s, Dwarf_Die *die)
{
    Dwarf_Attribute attr;
    const char *name = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_linkage_name, &attr));

    if (!name)
        name = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &attr));
    if (!name)
        name = dwarf_diename(die);
    return demangled(s, name);
}

/*
 * The compile unit whose line table covers addr, found by walking every CU.
 * elfutils 0.188 cannot map addresses to CUs in clang's DWARF 5 (no
 * .debug_aranges, ranges in .debug_rnglists): eu-addr2line prints ??:0 there.
 */
static int cu_by_line_table(Dwfl_Module *mod, uint64_t addr, Dwarf_Die *cu_out, Dwarf_Addr *bias)
{
    Dwarf *dw = dwfl_module_getdwarf(mod, bias);
    Dwarf_Off off = 0, next;
    size_t header_size;

    if (!dw)
        return -1;
    while (dwarf_nextcu(dw, off, &next, &header_size, NULL, NULL, NULL) == 0) {
        if (dwarf_offdie(dw, off + header_size, cu_out) && dwarf_getsrc_die(cu_out, addr - *bias))
            return 0;
        off = next;
    }
    return -1;
}

/* Fill frames for addr inside mod; returns the count. */
static int resolve(struct symbolizer *s, Dwfl_Module *mod, uint64_t addr, struct sym_frame *frames,
                   const char *module_path, uint64_t offset)
{
    GElf_Off sym_off;
    GElf_Sym sym;
    const char *symname = dwfl_module_addrinfo(mod, addr, &sym_off, &sym, NULL, NULL, NULL);
    const char *file = NULL;
    int line = 0, n = 0;
    Dwarf_Addr bias = 0;
    Dwarf_Die *cudie = dwfl_module_addrdie(mod, addr, &bias), fallback_cu;
    Dwfl_Line *dl = cudie ? dwfl_module_getsrc(mod, addr) : NULL;

    if (dl) {
        file = dwfl_lineinfo(dl, NULL, &line, NULL, NULL, NULL);
    } else if (cu_by_line_table(mod, addr, &fallback_cu, &bias) == 0) {
        cudie = &fallback_cu;
        file = dwarf_linesrc(dwarf_getsrc_die(cudie, addr - bias), NULL, NULL);
        dwarf_lineno(dwarf_getsrc_die(cudie, addr - bias), &line);
    }
    file = keep(s, file ? strdup(file) : NULL);
    Dwarf_Die *scopes = NULL;
    int nscopes = cudie ? dwarf_getscopes(cudie, addr - bias, &scopes) : 0;
    Dwarf_Files *files = NULL;
    size_t nfiles = 0;

    if (cudie)
        dwarf_getsrcfiles(cudie, &files, &nfiles);
    for (int i = 0; i < nscopes && n < MAX_INLINE - 1; i++) {
        Dwarf_Die *die = &scopes[i];
        int tag = dwarf_tag(die);
        if (tag != DW_TAG_inlined_subroutine)
            continue;
        frames[n] = (struct sym_frame){ die_function_name(s, die), file, line, module_path, offset, 1 };
        n++;
        /* The caller's position is the inlined call's site. */
        Dwarf_Attribute attr;
        Dwarf_Word call_file = 0, call_line = 0;
        dwarf_formudata(dwarf_attr(die, DW_AT_call_file, &attr), &call_file);
        dwarf_formudata(dwarf_attr(die, DW_AT_call_line, &attr), &call_line);
        file = files && call_file < nfiles ? keep(s, strdup(dwarf_filesrc(files, call_file, NULL, NULL)))
                                           : NULL;
        line = (int)call_line;
    }
    free(scopes);
    frames[n] = (struct sym_frame){ demangled(s, symname), file, line, module_path, offset, 0 };
    return n + 1;
}

int symbolizer_lookup(struct symbolizer *s, uint64_t pc, const struct sym_frame **frames)
{
    struct cached *c;
    struct sym_frame tmp[MAX_INLINE];
    size_t index = 0;
    int n;

    HASH_FIND(hh, s->cache, &pc, sizeof pc, c);
    if (c) {
        *frames = c->frames;
        return c->count;
    }
    /* A return address points after the call; look up the call instruction. */
    uint64_t addr = pc > 0 ? pc - 1 : pc;
    const struct ls_module *m = module_of(s, addr, &index);
    if (!m) {
        tmp[0] = (struct sym_frame){ NULL, NULL, 0, NULL, pc, 0 };
        n = 1;
    } else if (!s->dwfl_of[index]) {
        tmp[0] = (struct sym_frame){ NULL, NULL, 0, m->path, pc - m->base, 0 };
        n = 1;
    } else {
        n = resolve(s, s->dwfl_of[index], addr, tmp, m->path, pc - m->base);
    }
    c = malloc(sizeof *c + (size_t)n * sizeof c->frames[0]);
    if (!c) {
        static struct sym_frame unknown;
        *frames = &unknown;
        return 1;
    }
    c->pc = pc;
    c->count = n;
    memcpy(c->frames, tmp, (size_t)n * sizeof tmp[0]);
    HASH_ADD(hh, s->cache, pc, sizeof pc, c);
    *frames = c->frames;
    return n;
}

int symbolizer_problems(struct symbolizer *s, const char ***lines)
{
    *lines = (const char **)s->problems;
    return s->nproblems;
}

void symbolizer_close(struct symbolizer *s)
{
    struct cached *c, *tmp;

    if (!s)
        return;
    HASH_ITER(hh, s->cache, c, tmp) {
        HASH_DEL(s->cache, c);
        free(c);
    }
    for (size_t i = 0; i < s->nstrings; i++)
        free(s->strings[i]);
    free(s->strings);
    for (int i = 0; i < s->nproblems; i++)
        free(s->problems[i]);
    free(s->problems);
    free(s->dwfl_of);
    if (s->dwfl)
        dwfl_end(s->dwfl);
    free(s);
}
