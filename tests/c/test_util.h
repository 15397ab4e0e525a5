/* What the C test programs share: a CHECK that counts failures and prints segface's last error,
 * and reading a whole file. */
#ifndef SEGFACE_TEST_UTIL_H
#define SEGFACE_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>

#include "segface.h"

static int failures = 0;

#define CHECK(cond)                                                              \
    do {                                                                         \
        if (!(cond)) {                                                           \
            const char *detail = segface_last_error();                           \
            fprintf(stderr, "%s:%d: check failed: %s (last error: %s)\n",        \
                    __FILE__, __LINE__, #cond, detail ? detail : "none");        \
            failures++;                                                          \
        }                                                                        \
    } while (0)

static unsigned char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    unsigned char *buf;
    long size;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)size);
    if (buf && fread(buf, 1, (size_t)size, f) != (size_t)size) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = (size_t)size;
    return buf;
}

#endif
