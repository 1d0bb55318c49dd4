/* tests/fuzz/fuzz-content.c - bridge/content.c's gv_content_message(): the
 * input is body NUL html NUL extra (JSON; missing parts are absent). The
 * answer, when there is one, is JSON of at most GV_CONTENT_MAX_BYTES with a
 * string body and m.mentions. No crash, no read outside the input. */
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "../../bridge/content.h"
#include "fuzz.h"

/* The next NUL-separated part of data[*at..size), copied NUL-terminated. */
static char *part(const uint8_t *data, size_t size, size_t *at, bool *found)
{
        const uint8_t *p = *at < size ? memchr(data + *at, '\0', size - *at) : NULL;
        size_t len = p ? (size_t)(p - (data + *at)) : size - *at;
        char *s;

        *found = *at <= size;
        if (!*found)
                return NULL;
        s = malloc(len + 1);
        if (!s)
                abort();
        if (len)
                memcpy(s, data + *at, len);
        s[len] = '\0';
        *at += len + 1;
        return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        size_t at = 0;
        bool has_body, has_html, has_extra;
        char *body = part(data, size, &at, &has_body);
        char *html = part(data, size, &at, &has_html);
        char *extra_text = part(data, size, &at, &has_extra);
        cJSON *extra = extra_text ? cJSON_Parse(extra_text) : NULL;
        char *out;

        out = gv_content_message(body ? body : "", html, extra);
        if (out) {
                cJSON *c = cJSON_Parse(out);

                if (!c || strlen(out) > GV_CONTENT_MAX_BYTES ||
                    !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(c, "body")) ||
                    !cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(c, "m.mentions")))
                        abort();
                cJSON_Delete(c);
        }
        free(out);
        cJSON_Delete(extra);
        free(body);
        free(html);
        free(extra_text);
        return 0;
}
