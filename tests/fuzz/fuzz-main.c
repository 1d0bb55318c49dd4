/* tests/fuzz/fuzz-main.c - replays corpus files and directories through
 * LLVMFuzzerTestOneInput; a crash or sanitizer report fails the test. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int run_file(const char *path)
{
        FILE *f = fopen(path, "rb");
        unsigned char *data = NULL;
        long n;
        int r = 1;

        if (!f) {
                fprintf(stderr, "fuzz-main: %s: cannot open\n", path);
                return 1;
        }
        if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
                goto out;
        /* exactly n bytes: a read past the input is a sanitizer report */
        data = malloc(n > 0 ? (size_t)n : 1);
        if (!data || fread(data, 1, (size_t)n, f) != (size_t)n)
                goto out;
        LLVMFuzzerTestOneInput(data, (size_t)n);
        r = 0;
out:
        free(data);
        fclose(f);
        return r;
}

static int run_path(const char *path, unsigned *count)
{
        struct stat st;
        DIR *d;
        struct dirent *de;
        int r = 0;

        if (stat(path, &st) != 0) {
                fprintf(stderr, "fuzz-main: %s: no such file\n", path);
                return 1;
        }
        if (!S_ISDIR(st.st_mode)) {
                (*count)++;
                return run_file(path);
        }
        d = opendir(path);
        if (!d)
                return 1;
        while ((de = readdir(d))) {
                char sub[4096];

                if (de->d_name[0] == '.')
                        continue;
                if ((size_t)snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name) >= sizeof(sub))
                        continue;
                r |= run_path(sub, count);
        }
        closedir(d);
        return r;
}

int main(int argc, char **argv)
{
        unsigned count = 0;
        int r = 0;

        for (int i = 1; i < argc; i++)
                r |= run_path(argv[i], &count);
        if (count == 0) {
                fprintf(stderr, "fuzz-main: empty corpus\n");
                return 1;
        }
        printf("%u inputs replayed\n", count);
        return r;
}
