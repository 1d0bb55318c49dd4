/* tests/fuzz/fuzz-cmd.c - any bytes, split into lines, through
 * gv_parse_command() with the default config (prefixes "#!"), plus
 * gv_strip_reply_fallback() on the whole input: no crash, no read outside the
 * input, and every answer describes the line it came from. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "../../handlers/parse.h"
#include "../../util/config.h"
#include "fuzz.h"

static bool blank(char c)
{
        return c == ' ' || c == '\t' || c == '\r';
}

static bool letter(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static void check_line(const struct gv_config *cfg, const char *line, size_t len)
{
        struct gv_cmdline cl;
        size_t i;

        memset(&cl, 0, sizeof(cl));
        if (!gv_parse_command(cfg, line, len, &cl))
                return;
        /* The prefix is a configured one and sits just before the name. */
        if (!gv_config_is_prefix(cfg, cl.prefix) || cl.name <= line || cl.name[-1] != cl.prefix)
                abort();
        /* Only blanks before the prefix. */
        for (const char *p = line; p < cl.name - 1; p++)
                if (!blank(*p))
                        abort();
        /* The name: letters inside the line, ended by a blank or the end. */
        if (cl.name_len == 0 || cl.name + cl.name_len > line + len)
                abort();
        for (i = 0; i < cl.name_len; i++)
                if (!letter(cl.name[i]))
                        abort();
        if (cl.name + cl.name_len < line + len && !blank(cl.name[cl.name_len]))
                abort();
        /* The arguments: inside the line, after the name, trimmed. */
        if (cl.args < cl.name + cl.name_len || cl.args + cl.args_len > line + len)
                abort();
        if (cl.args_len && (blank(cl.args[0]) || blank(cl.args[cl.args_len - 1])))
                abort();
        /* Nothing but blanks is dropped after the arguments. */
        for (const char *p = cl.args + cl.args_len; p < line + len; p++)
                if (!blank(*p))
                        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static struct gv_config *cfg;
        const char *s = (const char *)data, *body;
        size_t rest = (size_t)-1, i = 0;

        if (!cfg && gv_config_defaults(&cfg) != GV_OK)
                abort();

        while (i <= size) {
                const char *nl = size > i ? memchr(s + i, '\n', size - i) : NULL;
                size_t len = nl ? (size_t)(nl - (s + i)) : size - i;

                check_line(cfg, s + i, len);
                i += len + 1;
        }

        body = gv_strip_reply_fallback(s, size, &rest);
        if (!body || body < s || rest > size || body + rest != s + size)
                abort();
        /* Only a fallback is skipped: "> " lines and one empty line. */
        if (body != s && (size == 0 || s[0] != '>'))
                abort();
        /* The stripped body is parsed again, as gv_handle() does. */
        for (i = 0; i <= rest;) {
                const char *nl = rest > i ? memchr(body + i, '\n', rest - i) : NULL;
                size_t len = nl ? (size_t)(nl - (body + i)) : rest - i;

                check_line(cfg, body + i, len);
                i += len + 1;
        }
        return 0;
}
