/* util/json.h - the one way gavel reads JSON: type-checked getters that pass
 * NULL along (chains like gv_js_str(gv_js_obj(ev, "content"), "body")) and
 * match keys case-sensitively, as Matrix does. */
#ifndef GV_JSON_H
#define GV_JSON_H

#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>

static inline const cJSON *gv_js_get(const cJSON *o, const char *k)
{
        return cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, k) : NULL;
}

static inline const char *gv_js_str(const cJSON *o, const char *k)
{
        const cJSON *v = gv_js_get(o, k);

        return cJSON_IsString(v) && v->valuestring ? v->valuestring : NULL;
}

static inline const cJSON *gv_js_obj(const cJSON *o, const char *k)
{
        const cJSON *v = gv_js_get(o, k);

        return cJSON_IsObject(v) ? v : NULL;
}

static inline const cJSON *gv_js_arr(const cJSON *o, const char *k)
{
        const cJSON *v = gv_js_get(o, k);

        return cJSON_IsArray(v) ? v : NULL;
}

/* A whole number from 0 to 2^53; def when absent or anything else. */
static inline int64_t gv_js_uint(const cJSON *o, const char *k, int64_t def)
{
        const cJSON *v = gv_js_get(o, k);

        if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < 0 ||
            v->valuedouble > 9007199254740992.0 || v->valuedouble != floor(v->valuedouble))
                return def;
        return (int64_t)v->valuedouble;
}

#endif
