/* bridge/crypto.c - see crypto.h. The only file that includes olm.h.
 *
 * Habits (STYLE.md §14): every buffer libolm may overwrite (pickles,
 * messages, signatures, random bytes) is a private copy; every result is
 * compared with olm_error() and the matching *_last_error() lands in the
 * errmsg; plaintext, seeds and session keys are wiped (explicit_bzero)
 * before they are freed. Nothing here logs key material or plaintext.
 *
 * State lives in the store and is read back per operation (Olm and Megolm
 * sessions are unpickled when used and pickled again when they change); only
 * the account and the cross-signing seeds are held, and the account is read
 * again when a rollback may have undone what was held. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <olm/olm.h>
#include <olm/pk.h>

#include "../store/store.h"
#include "../util/buf.h"
#include "../util/json.h"
#include "crypto.h"

#define CANON_MAX (1024 * 1024)
#define KV_DEVICE_PUBLISHED "crypto_device_published"
#define KV_XSIGN_PUBLISHED "crypto_xsign_published"
#define KV_FALLBACK_PUBLISHED "crypto_fallback_published"
#define SEED_LEN 32

static const char *const xs_names[3] = { "master", "self_signing", "user_signing" };
enum { XS_MASTER = 0, XS_SELF, XS_USER };

struct gv_crypto {
        struct gv_store *st;
        char *user_id;
        char *device_id;
        unsigned char *pkey;
        size_t pkey_len;
        OlmAccount *acc;
        uint64_t gen;           /* store generation the account was read at */
        char curve[64];
        char ed[64];
        bool xs_exists;
        unsigned char seeds[3][SEED_LEN];
        char xs_pub[3][64];
        char err[512];
};

/* ---- small helpers ---------------------------------------------------- */

__attribute__((format(printf, 3, 4)))
static enum gv_err fail(struct gv_crypto *c, enum gv_err r, const char *fmt, ...)
{
        va_list ap;

        if (c) {
                va_start(ap, fmt);
                vsnprintf(c->err, sizeof(c->err), fmt, ap);
                va_end(ap);
        }
        return r;
}

static void wipe_free(void *p, size_t n)
{
        if (p) {
                explicit_bzero(p, n);
                free(p);
        }
}

static void wipe_str(char *s)
{
        if (s)
                wipe_free(s, strlen(s));
}

/* A NUL-terminated private copy of n bytes. */
static char *dupn(const void *p, size_t n)
{
        char *d = malloc(n + 1);

        if (d) {
                memcpy(d, p, n);
                d[n] = '\0';
        }
        return d;
}

static enum gv_err rnd(struct gv_crypto *c, void *buf, size_t n)
{
        unsigned char *p = buf;

        while (n > 0) {
                ssize_t k = getrandom(p, n, 0);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return fail(c, GV_ECRYPTO, "getrandom: %s", strerror(errno));
                }
                p += k;
                n -= (size_t)k;
        }
        return GV_OK;
}

static int64_t now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool str_eq(const char *a, const char *b)
{
        return a && b && strcmp(a, b) == 0;
}

static void js_wipe(cJSON *j)
{
        for (; j; j = j->next) {
                if (j->valuestring)
                        explicit_bzero(j->valuestring, strlen(j->valuestring));
                js_wipe(j->child);
        }
}

/* Wipes a cJSON tree's strings (plaintext) and deletes it. */
static void js_wipe_delete(cJSON *j)
{
        if (!j)
                return;
        if (j->valuestring)
                explicit_bzero(j->valuestring, strlen(j->valuestring));
        js_wipe(j->child);
        cJSON_Delete(j);
}

/* ---- canonical JSON --------------------------------------------------- */

static int key_cmp(const void *a, const void *b)
{
        const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;

        return strcmp(x->string, y->string);    /* UTF-8 bytes sort as code points */
}

static enum gv_err canon_str(struct gv_buf *b, const char *s)
{
        enum gv_err r = gv_buf_addc(b, '"');

        for (const unsigned char *p = (const unsigned char *)s; !r && *p; p++) {
                switch (*p) {
                case '"': r = gv_buf_adds(b, "\\\""); break;
                case '\\': r = gv_buf_adds(b, "\\\\"); break;
                case '\b': r = gv_buf_adds(b, "\\b"); break;
                case '\f': r = gv_buf_adds(b, "\\f"); break;
                case '\n': r = gv_buf_adds(b, "\\n"); break;
                case '\r': r = gv_buf_adds(b, "\\r"); break;
                case '\t': r = gv_buf_adds(b, "\\t"); break;
                default:
                        if (*p < 0x20)
                                r = gv_buf_printf(b, "\\u%04x", *p);
                        else
                                r = gv_buf_addc(b, (char)*p);
                }
        }
        return r ? r : gv_buf_addc(b, '"');
}

static enum gv_err canon(struct gv_buf *b, const cJSON *j, int depth)
{
        enum gv_err r = GV_OK;
        size_t n = 0, i = 0;
        const cJSON *e;
        const cJSON **kids;

        if (depth > 64)
                return GV_ETOOBIG;
        if (cJSON_IsNull(j))
                return gv_buf_adds(b, "null");
        if (cJSON_IsTrue(j))
                return gv_buf_adds(b, "true");
        if (cJSON_IsFalse(j))
                return gv_buf_adds(b, "false");
        if (cJSON_IsString(j))
                return canon_str(b, j->valuestring ? j->valuestring : "");
        if (cJSON_IsNumber(j)) {
                double d = j->valuedouble;

                if (!(d >= -9007199254740991.0 && d <= 9007199254740991.0) ||
                    d != (double)(int64_t)d)
                        return GV_EINVAL;
                return gv_buf_printf(b, "%lld", (long long)(int64_t)d);
        }
        if (cJSON_IsArray(j)) {
                r = gv_buf_addc(b, '[');
                for (e = j->child; !r && e; e = e->next) {
                        if (e != j->child)
                                r = gv_buf_addc(b, ',');
                        if (!r)
                                r = canon(b, e, depth + 1);
                }
                return r ? r : gv_buf_addc(b, ']');
        }
        if (!cJSON_IsObject(j))
                return GV_EINVAL;
        for (e = j->child; e; e = e->next)
                n++;
        kids = malloc((n ? n : 1) * sizeof(*kids));
        if (!kids)
                return GV_ENOMEM;
        for (e = j->child; e; e = e->next)
                kids[i++] = e;
        qsort(kids, n, sizeof(*kids), key_cmp);
        r = gv_buf_addc(b, '{');
        for (i = 0; !r && i < n; i++) {
                if (i > 0 && strcmp(kids[i - 1]->string, kids[i]->string) == 0)
                        r = GV_EINVAL;  /* a duplicate key has no canonical form */
                if (!r && i > 0)
                        r = gv_buf_addc(b, ',');
                if (!r)
                        r = canon_str(b, kids[i]->string);
                if (!r)
                        r = gv_buf_addc(b, ':');
                if (!r)
                        r = canon(b, kids[i], depth + 1);
        }
        free(kids);
        return r ? r : gv_buf_addc(b, '}');
}

enum gv_err gv_crypto_canonical_json(const cJSON *obj, char **ret)
{
        struct gv_buf b = GV_BUF_INIT(CANON_MAX);
        enum gv_err r;

        if (!obj)
                return GV_EINVAL;
        r = canon(&b, obj, 0);
        if (!r)
                r = gv_buf_steal(&b, ret);
        if (b.p)
                explicit_bzero(b.p, b.cap);
        gv_buf_free(&b);
        return r;
}

/* The canonical form of obj without "signatures" and "unsigned": what is signed. */
static enum gv_err signable(const cJSON *obj, char **ret)
{
        cJSON *copy;
        enum gv_err r;

        if (!cJSON_IsObject(obj))
                return GV_EINVAL;
        copy = cJSON_Duplicate(obj, 1);
        if (!copy)
                return GV_ENOMEM;
        cJSON_DeleteItemFromObjectCaseSensitive(copy, "signatures");
        cJSON_DeleteItemFromObjectCaseSensitive(copy, "unsigned");
        r = gv_crypto_canonical_json(copy, ret);
        cJSON_Delete(copy);
        return r;
}

/* Adds signatures.{user}.{key_id} = sig to obj. */
static enum gv_err add_signature(cJSON *obj, const char *user, const char *key_id, const char *sig)
{
        cJSON *sigs = cJSON_GetObjectItemCaseSensitive(obj, "signatures"), *u;

        if (!cJSON_IsObject(sigs)) {
                cJSON_DeleteItemFromObjectCaseSensitive(obj, "signatures");
                sigs = cJSON_AddObjectToObject(obj, "signatures");
                if (!sigs)
                        return GV_ENOMEM;
        }
        u = cJSON_GetObjectItemCaseSensitive(sigs, user);
        if (!cJSON_IsObject(u)) {
                cJSON_DeleteItemFromObjectCaseSensitive(sigs, user);
                u = cJSON_AddObjectToObject(sigs, user);
                if (!u)
                        return GV_ENOMEM;
        }
        cJSON_DeleteItemFromObjectCaseSensitive(u, key_id);
        return cJSON_AddStringToObject(u, key_id, sig) ? GV_OK : GV_ENOMEM;
}

enum gv_err gv_crypto_verify_json(const cJSON *obj, const char *user_id, const char *key_id,
                                  const char *ed25519)
{
        const char *sig = gv_js_str(gv_js_obj(gv_js_obj(obj, "signatures"), user_id), key_id);
        char *msg = NULL, *sigcopy = NULL;
        void *umem = NULL;
        OlmUtility *u;
        enum gv_err r;
        size_t res;

        if (!sig || !ed25519 || !user_id || !key_id)
                return GV_EPERM;
        r = signable(obj, &msg);
        if (r)
                return r;
        sigcopy = strdup(sig);
        umem = malloc(olm_utility_size());
        if (!sigcopy || !umem) {
                r = GV_ENOMEM;
                goto out;
        }
        u = olm_utility(umem);
        res = olm_ed25519_verify(u, ed25519, strlen(ed25519), msg, strlen(msg), sigcopy,
                                 strlen(sigcopy));
        r = res == olm_error() ? GV_EPERM : GV_OK;
        olm_clear_utility(u);
out:
        free(umem);
        free(sigcopy);
        free(msg);
        return r;
}

/* ---- the account ------------------------------------------------------ */

static OlmAccount *account_new(void)
{
        void *m = malloc(olm_account_size());

        return m ? olm_account(m) : NULL;
}

static void account_free(OlmAccount *a)
{
        if (a) {
                olm_clear_account(a);
                free(a);        /* olm_account() returns the memory it was given */
        }
}

static enum gv_err acc_fail(struct gv_crypto *c, const char *what)
{
        return fail(c, GV_ECRYPTO, "%s: %s", what, olm_account_last_error(c->acc));
}

static enum gv_err account_save(struct gv_crypto *c)
{
        size_t len = olm_pickle_account_length(c->acc);
        char *p = malloc(len + 1);
        enum gv_err r;

        if (!p)
                return GV_ENOMEM;
        if (olm_pickle_account(c->acc, c->pkey, c->pkey_len, p, len) == olm_error()) {
                free(p);
                return acc_fail(c, "pickling the account");
        }
        p[len] = '\0';
        r = gv_store_crypto_account_set(c->st, c->user_id, c->device_id, p);
        wipe_free(p, len);
        if (r)
                return fail(c, r, "saving the account: %s", gv_store_errmsg(c->st));
        c->gen = gv_store_generation(c->st);
        return GV_OK;
}

static enum gv_err account_read_keys(struct gv_crypto *c)
{
        size_t len = olm_account_identity_keys_length(c->acc);
        char *k = malloc(len + 1);
        cJSON *j = NULL;
        const char *cu, *ed;
        enum gv_err r = GV_OK;

        if (!k)
                return GV_ENOMEM;
        if (olm_account_identity_keys(c->acc, k, len) == olm_error()) {
                free(k);
                return acc_fail(c, "identity keys");
        }
        k[len] = '\0';
        j = cJSON_Parse(k);
        cu = gv_js_str(j, "curve25519");
        ed = gv_js_str(j, "ed25519");
        if (!cu || !ed || strlen(cu) >= sizeof(c->curve) || strlen(ed) >= sizeof(c->ed))
                r = fail(c, GV_ECRYPTO, "identity keys: unexpected form");
        else {
                snprintf(c->curve, sizeof(c->curve), "%s", cu);
                snprintf(c->ed, sizeof(c->ed), "%s", ed);
        }
        cJSON_Delete(j);
        free(k);
        return r;
}

/* Reads the account from the store into c->acc; GV_ENOTFOUND when none. */
static enum gv_err account_load(struct gv_crypto *c)
{
        char *u = NULL, *d = NULL, *p = NULL;
        OlmAccount *a;
        enum gv_err r;

        r = gv_store_crypto_account_get(c->st, &u, &d, &p);
        if (r == GV_ENOTFOUND)
                return r;
        if (r)
                return fail(c, r, "reading the account: %s", gv_store_errmsg(c->st));
        if (!str_eq(u, c->user_id) || !str_eq(d, c->device_id)) {
                r = fail(c, GV_EINVAL, "the database holds the encryption keys of %s device %s, "
                         "not of %s device %s", u, d, c->user_id, c->device_id);
                goto out;
        }
        a = account_new();
        if (!a) {
                r = GV_ENOMEM;
                goto out;
        }
        if (olm_unpickle_account(a, c->pkey, c->pkey_len, p, strlen(p)) == olm_error()) {
                r = fail(c, GV_ECRYPTO, "cannot read the encryption account: %s (%s)",
                         olm_account_last_error(a),
                         olm_account_last_error_code(a) == OLM_BAD_ACCOUNT_KEY ?
                         "wrong pickle key?" : "corrupt pickle");
                account_free(a);
                goto out;
        }
        account_free(c->acc);
        c->acc = a;
        c->gen = gv_store_generation(c->st);
        r = GV_OK;
out:
        free(u);
        free(d);
        wipe_str(p);
        return r;
}

/* The account as the store has it now (a rollback may have undone changes). */
static enum gv_err account_fresh(struct gv_crypto *c)
{
        if (c->gen == gv_store_generation(c->st))
                return GV_OK;
        return account_load(c);
}

static enum gv_err kv_flag(struct gv_crypto *c, const char *key, bool *val)
{
        char *v = NULL;
        enum gv_err r = gv_store_kv_get(c->st, key, &v);

        if (r)
                return fail(c, r, "reading %s: %s", key, gv_store_errmsg(c->st));
        *val = str_eq(v, "1");
        free(v);
        return GV_OK;
}

static enum gv_err kv_set_flag(struct gv_crypto *c, const char *key, bool val)
{
        enum gv_err r = gv_store_kv_set(c->st, key, val ? "1" : "0");

        return r ? fail(c, r, "saving %s: %s", key, gv_store_errmsg(c->st)) : GV_OK;
}

static enum gv_err xsign_load(struct gv_crypto *c);

/* Why the last gv_crypto_open failed: there is no handle to keep it in. */
static char open_err[512];

const char *gv_crypto_errmsg(const struct gv_crypto *c)
{
        return c ? c->err : open_err;
}

struct gv_crypto *gv_crypto_free(struct gv_crypto *c)
{
        if (!c)
                return NULL;
        account_free(c->acc);
        free(c->user_id);
        free(c->device_id);
        wipe_free(c->pkey, c->pkey_len);
        explicit_bzero(c, sizeof(*c));
        free(c);
        return NULL;
}

enum gv_err gv_crypto_exists(struct gv_store *store, bool *exists)
{
        char *u = NULL, *d = NULL, *p = NULL;
        enum gv_err r = gv_store_crypto_account_get(store, &u, &d, &p);

        if (r && r != GV_ENOTFOUND)
                return r;
        *exists = r == GV_OK;
        free(u);
        free(d);
        wipe_str(p);
        return GV_OK;
}

const char *gv_crypto_user_id(const struct gv_crypto *c)
{
        return c->user_id;
}

const char *gv_crypto_device_id(const struct gv_crypto *c)
{
        return c->device_id;
}

const char *gv_crypto_curve25519(const struct gv_crypto *c)
{
        return c->curve;
}

const char *gv_crypto_ed25519(const struct gv_crypto *c)
{
        return c->ed;
}

enum gv_err gv_crypto_open(struct gv_store *store, const char *user_id, const char *device_id,
                           const void *pickle_key, size_t key_len, struct gv_crypto **ret)
{
        struct gv_crypto *c;
        enum gv_err r;

        *ret = NULL;
        open_err[0] = '\0';
        if (!store || !user_id || !device_id || !pickle_key || key_len < GV_CRYPTO_PICKLE_KEY_MIN)
                return GV_EINVAL;
        c = calloc(1, sizeof(*c));
        if (!c)
                return GV_ENOMEM;
        c->st = store;
        c->user_id = strdup(user_id);
        c->device_id = strdup(device_id);
        c->pkey = malloc(key_len);
        if (!c->user_id || !c->device_id || !c->pkey) {
                r = GV_ENOMEM;
                goto fail;
        }
        memcpy(c->pkey, pickle_key, key_len);
        c->pkey_len = key_len;
        r = account_load(c);
        if (r == GV_ENOTFOUND) {
                size_t rl;
                void *rb;

                c->acc = account_new();
                if (!c->acc) {
                        r = GV_ENOMEM;
                        goto fail;
                }
                rl = olm_create_account_random_length(c->acc);
                rb = malloc(rl ? rl : 1);
                if (!rb) {
                        r = GV_ENOMEM;
                        goto fail;
                }
                r = rnd(c, rb, rl);
                if (!r && olm_create_account(c->acc, rb, rl) == olm_error())
                        r = acc_fail(c, "creating the account");
                wipe_free(rb, rl);
                if (!r)
                        r = account_save(c);
        }
        if (!r)
                r = account_read_keys(c);
        if (!r)
                r = xsign_load(c);
        if (r)
                goto fail;
        *ret = c;
        return GV_OK;
fail:
        snprintf(open_err, sizeof(open_err), "%s", c->err[0] ? c->err : gv_strerror(r));
        gv_crypto_free(c);
        return r;
}

/* ---- signing ---------------------------------------------------------- */

/* Signs msg with the device's ed25519 key: *sig, base64, the caller's. */
static enum gv_err account_sign(struct gv_crypto *c, const char *msg, char **sig)
{
        size_t len = olm_account_signature_length(c->acc);
        char *s = malloc(len + 1);

        if (!s)
                return GV_ENOMEM;
        if (olm_account_sign(c->acc, msg, strlen(msg), s, len) == olm_error()) {
                free(s);
                return acc_fail(c, "signing");
        }
        s[len] = '\0';
        *sig = s;
        return GV_OK;
}

enum gv_err gv_crypto_sign_json(struct gv_crypto *c, cJSON *obj)
{
        char *msg = NULL, *sig = NULL, kid[128];
        enum gv_err r = account_fresh(c);

        if (r)
                return r;
        r = signable(obj, &msg);
        if (r)
                return fail(c, r, "signing: the object has no canonical form");
        r = account_sign(c, msg, &sig);
        free(msg);
        if (r)
                return r;
        snprintf(kid, sizeof(kid), "ed25519:%s", c->device_id);
        r = add_signature(obj, c->user_id, kid, sig);
        free(sig);
        return r;
}

/* ---- cross-signing keys ----------------------------------------------- */

static OlmPkSigning *pk_signing_new(void)
{
        void *m = malloc(olm_pk_signing_size());

        return m ? olm_pk_signing(m) : NULL;
}

static void pk_signing_free(OlmPkSigning *s)
{
        if (s) {
                olm_clear_pk_signing(s);
                free(s);
        }
}

static OlmPkDecryption *pk_dec_new(void)
{
        void *m = malloc(olm_pk_decryption_size());

        return m ? olm_pk_decryption(m) : NULL;
}

static void pk_dec_free(OlmPkDecryption *d)
{
        if (d) {
                olm_clear_pk_decryption(d);
                free(d);
        }
}

/* The public key of a seed into pub (64 bytes). */
static enum gv_err xs_public(struct gv_crypto *c, const unsigned char *seed, char *pub)
{
        OlmPkSigning *s = pk_signing_new();
        size_t pl = olm_pk_signing_public_key_length();
        enum gv_err r = GV_OK;

        if (!s)
                return GV_ENOMEM;
        if (pl >= 64 || olm_pk_signing_key_from_seed(s, pub, pl, seed, SEED_LEN) == olm_error())
                r = fail(c, GV_ECRYPTO, "cross-signing key: %s", olm_pk_signing_last_error(s));
        else
                pub[pl] = '\0';
        pk_signing_free(s);
        return r;
}

/* Signs msg with cross-signing key k: *sig is the caller's. */
static enum gv_err xs_sign(struct gv_crypto *c, int k, const char *msg, char **sig)
{
        OlmPkSigning *s = pk_signing_new();
        size_t pl = olm_pk_signing_public_key_length(), sl = olm_pk_signature_length();
        char pub[64], *out = malloc(sl + 1);
        enum gv_err r = GV_OK;

        if (!s || !out) {
                r = GV_ENOMEM;
                goto out;
        }
        if (olm_pk_signing_key_from_seed(s, pub, pl, c->seeds[k], SEED_LEN) == olm_error() ||
            olm_pk_sign(s, (const uint8_t *)msg, strlen(msg), (uint8_t *)out, sl) == olm_error()) {
                r = fail(c, GV_ECRYPTO, "cross-signing: %s", olm_pk_signing_last_error(s));
                goto out;
        }
        out[sl] = '\0';
        *sig = out;
        out = NULL;
out:
        free(out);
        pk_signing_free(s);
        return r;
}

/* A seed is kept as a libolm-pickled PkDecryption whose private key is the
 * seed: encrypted with the pickle key like every other pickle. */
static enum gv_err xs_save(struct gv_crypto *c, int k)
{
        OlmPkDecryption *d = pk_dec_new();
        char pub[128], *p = NULL;
        size_t len = 0;
        enum gv_err r = GV_OK;

        if (!d)
                return GV_ENOMEM;
        if (olm_pk_key_from_private(d, pub, olm_pk_key_length(), c->seeds[k], SEED_LEN) ==
            olm_error()) {
                r = fail(c, GV_ECRYPTO, "keeping a cross-signing key: %s",
                         olm_pk_decryption_last_error(d));
                goto out;
        }
        len = olm_pickle_pk_decryption_length(d);
        p = malloc(len + 1);
        if (!p) {
                r = GV_ENOMEM;
                goto out;
        }
        if (olm_pickle_pk_decryption(d, c->pkey, c->pkey_len, p, len) == olm_error()) {
                r = fail(c, GV_ECRYPTO, "pickling a cross-signing key: %s",
                         olm_pk_decryption_last_error(d));
                goto out;
        }
        p[len] = '\0';
        r = gv_store_crypto_secret_set(c->st, xs_names[k], p);
        if (r)
                r = fail(c, r, "saving a cross-signing key: %s", gv_store_errmsg(c->st));
out:
        wipe_free(p, len);
        pk_dec_free(d);
        return r;
}

static enum gv_err xsign_load(struct gv_crypto *c)
{
        enum gv_err r = GV_OK;

        c->xs_exists = false;
        for (int k = 0; k < 3 && !r; k++) {
                OlmPkDecryption *d;
                char *p = NULL, pub[128];

                r = gv_store_crypto_secret_get(c->st, xs_names[k], &p);
                if (r == GV_ENOTFOUND)
                        return GV_OK;
                if (r)
                        return fail(c, r, "reading cross-signing keys: %s", gv_store_errmsg(c->st));
                d = pk_dec_new();
                if (!d) {
                        wipe_str(p);
                        return GV_ENOMEM;
                }
                if (olm_unpickle_pk_decryption(d, c->pkey, c->pkey_len, p, strlen(p), pub,
                                               olm_pk_key_length()) == olm_error() ||
                    olm_pk_get_private_key(d, c->seeds[k], SEED_LEN) == olm_error())
                        r = fail(c, GV_ECRYPTO, "cannot read the cross-signing key %s: %s",
                                 xs_names[k], olm_pk_decryption_last_error(d));
                pk_dec_free(d);
                wipe_str(p);
                if (!r)
                        r = xs_public(c, c->seeds[k], c->xs_pub[k]);
        }
        if (!r)
                c->xs_exists = true;
        return r;
}

enum gv_err gv_crypto_xsign_bootstrap(struct gv_crypto *c, bool replace)
{
        enum gv_err r = GV_OK;

        if (c->xs_exists && !replace)
                return GV_OK;
        for (int k = 0; k < 3 && !r; k++) {
                r = rnd(c, c->seeds[k], SEED_LEN);
                if (!r)
                        r = xs_public(c, c->seeds[k], c->xs_pub[k]);
                if (!r)
                        r = xs_save(c, k);
        }
        if (!r)
                r = kv_set_flag(c, KV_XSIGN_PUBLISHED, false);
        if (r) {
                explicit_bzero(c->seeds, sizeof(c->seeds));
                c->xs_exists = false;
                return r;
        }
        c->xs_exists = true;
        return GV_OK;
}

bool gv_crypto_xsign_exists(const struct gv_crypto *c)
{
        return c->xs_exists;
}

bool gv_crypto_xsign_published(const struct gv_crypto *c)
{
        bool v = false;

        if (!c->xs_exists || kv_flag((struct gv_crypto *)c, KV_XSIGN_PUBLISHED, &v))
                return false;
        return v;
}

const char *gv_crypto_xsign_master(const struct gv_crypto *c)
{
        return c->xs_exists ? c->xs_pub[XS_MASTER] : NULL;
}

/* {user_id, usage: [usage], keys: {ed25519:PUB: PUB}} for key k. */
static cJSON *xs_key_obj(struct gv_crypto *c, int k)
{
        cJSON *o = cJSON_CreateObject(), *usage, *keys;
        char kid[96];

        snprintf(kid, sizeof(kid), "ed25519:%s", c->xs_pub[k]);
        if (!o || !cJSON_AddStringToObject(o, "user_id", c->user_id) ||
            !(usage = cJSON_AddArrayToObject(o, "usage")) ||
            !cJSON_AddItemToArray(usage, cJSON_CreateString(xs_names[k])) ||
            !(keys = cJSON_AddObjectToObject(o, "keys")) ||
            !cJSON_AddStringToObject(keys, kid, c->xs_pub[k])) {
                cJSON_Delete(o);
                return NULL;
        }
        return o;
}

/* Signs obj with cross-signing key k (signatures.{user}.{ed25519:PUB}). */
static enum gv_err xs_sign_json(struct gv_crypto *c, int k, cJSON *obj)
{
        char *msg = NULL, *sig = NULL, kid[96];
        enum gv_err r = signable(obj, &msg);

        if (r)
                return r;
        r = xs_sign(c, k, msg, &sig);
        free(msg);
        if (r)
                return r;
        snprintf(kid, sizeof(kid), "ed25519:%s", c->xs_pub[k]);
        r = add_signature(obj, c->user_id, kid, sig);
        free(sig);
        return r;
}

enum gv_err gv_crypto_xsign_upload_body(struct gv_crypto *c, cJSON **body)
{
        cJSON *b = NULL, *k[3] = { NULL, NULL, NULL };
        enum gv_err r = GV_ENOMEM;

        *body = NULL;
        if (!c->xs_exists)
                return fail(c, GV_ENOTFOUND, "no cross-signing keys yet");
        for (int i = 0; i < 3; i++)
                if (!(k[i] = xs_key_obj(c, i)))
                        goto out;
        r = gv_crypto_sign_json(c, k[XS_MASTER]);
        if (!r)
                r = xs_sign_json(c, XS_MASTER, k[XS_SELF]);
        if (!r)
                r = xs_sign_json(c, XS_MASTER, k[XS_USER]);
        if (r)
                goto out;
        r = GV_ENOMEM;
        b = cJSON_CreateObject();
        if (!b)
                goto out;
        cJSON_AddItemToObject(b, "master_key", k[0]);
        k[0] = NULL;
        cJSON_AddItemToObject(b, "self_signing_key", k[1]);
        k[1] = NULL;
        cJSON_AddItemToObject(b, "user_signing_key", k[2]);
        k[2] = NULL;
        *body = b;
        r = GV_OK;
out:
        for (int i = 0; i < 3; i++)
                cJSON_Delete(k[i]);
        return r;
}

/* Our device_keys object, signed by the device. */
static enum gv_err device_keys(struct gv_crypto *c, cJSON **ret)
{
        cJSON *o = cJSON_CreateObject(), *alg, *keys;
        char kid[128];
        enum gv_err r;

        if (!o || !cJSON_AddStringToObject(o, "user_id", c->user_id) ||
            !cJSON_AddStringToObject(o, "device_id", c->device_id) ||
            !(alg = cJSON_AddArrayToObject(o, "algorithms")) ||
            !cJSON_AddItemToArray(alg, cJSON_CreateString(GV_CRYPTO_OLM)) ||
            !cJSON_AddItemToArray(alg, cJSON_CreateString(GV_CRYPTO_MEGOLM)) ||
            !(keys = cJSON_AddObjectToObject(o, "keys"))) {
                cJSON_Delete(o);
                return GV_ENOMEM;
        }
        snprintf(kid, sizeof(kid), "curve25519:%s", c->device_id);
        if (!cJSON_AddStringToObject(keys, kid, c->curve)) {
                cJSON_Delete(o);
                return GV_ENOMEM;
        }
        snprintf(kid, sizeof(kid), "ed25519:%s", c->device_id);
        if (!cJSON_AddStringToObject(keys, kid, c->ed)) {
                cJSON_Delete(o);
                return GV_ENOMEM;
        }
        r = gv_crypto_sign_json(c, o);
        if (r) {
                cJSON_Delete(o);
                return r;
        }
        *ret = o;
        return GV_OK;
}

enum gv_err gv_crypto_xsign_signatures_body(struct gv_crypto *c, cJSON **body)
{
        cJSON *dk = NULL, *b = NULL, *u;
        enum gv_err r;

        *body = NULL;
        if (!c->xs_exists)
                return fail(c, GV_ENOTFOUND, "no cross-signing keys yet");
        r = device_keys(c, &dk);
        if (!r)
                r = xs_sign_json(c, XS_SELF, dk);
        if (r) {
                cJSON_Delete(dk);
                return r;
        }
        b = cJSON_CreateObject();
        u = b ? cJSON_AddObjectToObject(b, c->user_id) : NULL;
        if (!u) {
                cJSON_Delete(b);
                cJSON_Delete(dk);
                return GV_ENOMEM;
        }
        cJSON_AddItemToObject(u, c->device_id, dk);
        *body = b;
        return GV_OK;
}

enum gv_err gv_crypto_xsign_uploaded(struct gv_crypto *c)
{
        return kv_set_flag(c, KV_XSIGN_PUBLISHED, true);
}

/* ---- /keys/upload ----------------------------------------------------- */

void gv_crypto_key_counts_parse(const cJSON *obj, struct gv_crypto_key_counts *out)
{
        const cJSON *counts = gv_js_obj(obj, "one_time_key_counts");
        const cJSON *fb = gv_js_arr(obj, "device_unused_fallback_key_types");

        if (!counts)
                counts = gv_js_obj(obj, "device_one_time_keys_count");
        out->signed_curve25519 = counts ? gv_js_uint(counts, "signed_curve25519", 0) : -1;
        out->fallback_known = fb != NULL;
        out->fallback_unused = false;
        for (const cJSON *e = fb ? fb->child : NULL; e; e = e->next)
                if (cJSON_IsString(e) && str_eq(e->valuestring, "signed_curve25519"))
                        out->fallback_unused = true;
}

/* olm's {"curve25519": {id: key}} as a parsed object (NULL on failure). */
static cJSON *otk_json(struct gv_crypto *c, bool fallback)
{
        size_t len = fallback ? olm_account_unpublished_fallback_key_length(c->acc) :
                                olm_account_one_time_keys_length(c->acc);
        char *k = malloc(len + 1);
        cJSON *j;

        if (!k)
                return NULL;
        if ((fallback ? olm_account_unpublished_fallback_key(c->acc, k, len) :
                        olm_account_one_time_keys(c->acc, k, len)) == olm_error()) {
                free(k);
                (void)acc_fail(c, "one-time keys");
                return NULL;
        }
        k[len] = '\0';
        j = cJSON_Parse(k);
        free(k);
        return j;
}

static size_t obj_size(const cJSON *o)
{
        size_t n = 0;

        for (const cJSON *e = o ? o->child : NULL; e; e = e->next)
                n++;
        return n;
}

/* Adds each key of olm's {"curve25519": {...}} to dst as a signed
 * "signed_curve25519:ID" object, at most max of them. */
static enum gv_err add_signed_keys(struct gv_crypto *c, cJSON *dst, const cJSON *olmkeys,
                                   size_t max, bool fallback)
{
        const cJSON *cu = gv_js_obj(olmkeys, "curve25519");
        size_t n = 0;
        enum gv_err r = GV_OK;

        for (const cJSON *e = cu ? cu->child : NULL;
             e && n < max && !r; e = e->next, n++) {
                char kid[128];
                cJSON *k;

                if (!cJSON_IsString(e))
                        continue;
                k = cJSON_CreateObject();
                if (!k || !cJSON_AddStringToObject(k, "key", e->valuestring) ||
                    (fallback && !cJSON_AddTrueToObject(k, "fallback"))) {
                        cJSON_Delete(k);
                        return GV_ENOMEM;
                }
                r = gv_crypto_sign_json(c, k);
                if (r) {
                        cJSON_Delete(k);
                        return r;
                }
                snprintf(kid, sizeof(kid), "signed_curve25519:%s", e->string);
                cJSON_AddItemToObject(dst, kid, k);
        }
        return r;
}

enum gv_err gv_crypto_keys_upload_body(struct gv_crypto *c,
                                       const struct gv_crypto_key_counts *counts, size_t target,
                                       cJSON **body)
{
        cJSON *b = NULL, *otks = NULL, *fbk = NULL, *dk = NULL;
        size_t max, have, server, unpub;
        bool published = false, fb_published = false, changed = false, need_fb;
        enum gv_err r;

        *body = NULL;
        r = account_fresh(c);
        if (!r)
                r = kv_flag(c, KV_DEVICE_PUBLISHED, &published);
        if (!r)
                r = kv_flag(c, KV_FALLBACK_PUBLISHED, &fb_published);
        if (r)
                return r;
        max = olm_account_max_number_of_one_time_keys(c->acc);
        if (target == 0 || target > max / 2)
                target = target == 0 ? max / 2 : target > max ? max : target;
        server = counts && counts->signed_curve25519 > 0 ? (size_t)counts->signed_curve25519 : 0;
        otks = otk_json(c, false);
        if (!otks || !gv_js_obj(otks, "curve25519")) {
                r = fail(c, GV_ECRYPTO, "one-time keys: %s", olm_account_last_error(c->acc));
                goto out;
        }
        unpub = obj_size(gv_js_obj(otks, "curve25519"));
        have = server + unpub;
        if (have < target) {
                size_t n = target - have;
                size_t rl = olm_account_generate_one_time_keys_random_length(c->acc, n);
                void *rb = malloc(rl ? rl : 1);

                if (!rb) {
                        r = GV_ENOMEM;
                        goto out;
                }
                r = rnd(c, rb, rl);
                if (!r && olm_account_generate_one_time_keys(c->acc, n, rb, rl) == olm_error())
                        r = acc_fail(c, "generating one-time keys");
                wipe_free(rb, rl);
                if (r)
                        goto out;
                changed = true;
                cJSON_Delete(otks);
                otks = otk_json(c, false);
                if (!otks || !gv_js_obj(otks, "curve25519")) {
                        r = fail(c, GV_ECRYPTO, "one-time keys: %s",
                                 olm_account_last_error(c->acc));
                        goto out;
                }
        }
        fbk = otk_json(c, true);
        if (!fbk) {
                r = fail(c, GV_ECRYPTO, "fallback key: %s", olm_account_last_error(c->acc));
                goto out;
        }
        need_fb = counts && counts->fallback_known ? !counts->fallback_unused : !fb_published;
        if (need_fb && obj_size(gv_js_obj(fbk, "curve25519")) == 0) {
                size_t rl = olm_account_generate_fallback_key_random_length(c->acc);
                void *rb = malloc(rl ? rl : 1);

                if (!rb) {
                        r = GV_ENOMEM;
                        goto out;
                }
                r = rnd(c, rb, rl);
                if (!r && olm_account_generate_fallback_key(c->acc, rb, rl) == olm_error())
                        r = acc_fail(c, "generating a fallback key");
                wipe_free(rb, rl);
                if (r)
                        goto out;
                changed = true;
                cJSON_Delete(fbk);
                fbk = otk_json(c, true);
                if (!fbk) {
                        r = fail(c, GV_ECRYPTO, "fallback key: %s", olm_account_last_error(c->acc));
                        goto out;
                }
        }
        if (changed) {
                r = account_save(c);
                if (r)
                        goto out;
        }
        r = GV_ENOMEM;
        b = cJSON_CreateObject();
        if (!b)
                goto out;
        if (!published) {
                r = device_keys(c, &dk);
                if (r)
                        goto out;
                cJSON_AddItemToObject(b, "device_keys", dk);
        }
        if (obj_size(gv_js_obj(otks, "curve25519")) > 0 && server < target) {
                cJSON *o = cJSON_AddObjectToObject(b, "one_time_keys");

                r = o ? add_signed_keys(c, o, otks, target - server, false) : GV_ENOMEM;
                if (r)
                        goto out;
        }
        if (obj_size(gv_js_obj(fbk, "curve25519")) > 0) {
                cJSON *o = cJSON_AddObjectToObject(b, "fallback_keys");

                r = o ? add_signed_keys(c, o, fbk, 1, true) : GV_ENOMEM;
                if (r)
                        goto out;
        }
        if (b->child) {
                *body = b;
                b = NULL;
        }
        r = GV_OK;
out:
        cJSON_Delete(b);
        cJSON_Delete(otks);
        cJSON_Delete(fbk);
        return r;
}

enum gv_err gv_crypto_keys_uploaded(struct gv_crypto *c)
{
        cJSON *fbk;
        bool had_fb;
        enum gv_err r = account_fresh(c);

        if (r)
                return r;
        fbk = otk_json(c, true);
        had_fb = fbk && obj_size(gv_js_obj(fbk, "curve25519")) > 0;
        cJSON_Delete(fbk);
        if (olm_account_mark_keys_as_published(c->acc) == olm_error())
                return acc_fail(c, "marking keys published");
        r = account_save(c);
        if (!r)
                r = kv_set_flag(c, KV_DEVICE_PUBLISHED, true);
        if (!r && had_fb)
                r = kv_set_flag(c, KV_FALLBACK_PUBLISHED, true);
        return r;
}

/* ---- other devices ---------------------------------------------------- */

enum gv_err gv_crypto_users_outdated(struct gv_crypto *c, const char *const *users, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                enum gv_err r = users[i] ? gv_store_crypto_user_set(c->st, users[i], true) : GV_OK;

                if (r)
                        return fail(c, r, "tracking devices: %s", gv_store_errmsg(c->st));
        }
        return GV_OK;
}

enum gv_err gv_crypto_users_forget(struct gv_crypto *c, const char *const *users, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                enum gv_err r = users[i] ? gv_store_crypto_user_del(c->st, users[i]) : GV_OK;

                if (r)
                        return fail(c, r, "forgetting devices: %s", gv_store_errmsg(c->st));
        }
        return GV_OK;
}

static int query_add(void *ud, const char *user_id)
{
        cJSON *dk = ud, *a = cJSON_CreateArray();

        if (a)
                cJSON_AddItemToObject(dk, user_id, a);
        return 0;
}

enum gv_err gv_crypto_keys_query_body(struct gv_crypto *c, cJSON **body)
{
        cJSON *b = cJSON_CreateObject(), *dk = b ? cJSON_AddObjectToObject(b, "device_keys") : NULL;
        enum gv_err r;

        *body = NULL;
        if (!dk) {
                cJSON_Delete(b);
                return GV_ENOMEM;
        }
        r = gv_store_crypto_users_outdated(c->st, query_add, dk);
        if (r) {
                cJSON_Delete(b);
                return fail(c, r, "devices to query: %s", gv_store_errmsg(c->st));
        }
        if (!dk->child)
                cJSON_Delete(b);
        else
                *body = b;
        return GV_OK;
}

/* A known device (one row), as the store has it. */
struct known {
        const char *device_id;          /* what to look for */
        const char *curve;              /* or: by curve25519 */
        char *found_device, *found_curve, *found_ed;
        const cJSON *listed;            /* response devices: those not in it go */
        char **gone;
        size_t n_gone;
};

static int known_cb(void *ud, const char *device_id, const char *curve, const char *ed,
                    const char *keys)
{
        struct known *k = ud;

        (void)keys;
        if (k->listed && !gv_js_obj(k->listed, device_id)) {
                char **g = realloc(k->gone, (k->n_gone + 1) * sizeof(*g));

                if (g) {
                        k->gone = g;
                        if ((g[k->n_gone] = strdup(device_id)))
                                k->n_gone++;
                }
        }
        if (k->found_device)
                return 0;
        if ((k->device_id && str_eq(device_id, k->device_id)) ||
            (k->curve && str_eq(curve, k->curve))) {
                k->found_device = strdup(device_id);
                k->found_curve = strdup(curve);
                k->found_ed = strdup(ed);
        }
        return 0;
}

static void known_clear(struct known *k)
{
        free(k->found_device);
        free(k->found_curve);
        free(k->found_ed);
        for (size_t i = 0; i < k->n_gone; i++)
                free(k->gone[i]);
        free(k->gone);
        memset(k, 0, sizeof(*k));
}

/* Finds user's device by device_id or by curve25519 key: GV_ENOTFOUND if none. */
static enum gv_err device_find(struct gv_crypto *c, const char *user, const char *device_id,
                               const char *curve, struct known *k)
{
        enum gv_err r;

        memset(k, 0, sizeof(*k));
        k->device_id = device_id;
        k->curve = curve;
        r = gv_store_crypto_devices(c->st, user, known_cb, k);
        if (r) {
                known_clear(k);
                return fail(c, r, "reading devices: %s", gv_store_errmsg(c->st));
        }
        if (!k->found_device || !k->found_curve || !k->found_ed) {
                known_clear(k);
                return GV_ENOTFOUND;
        }
        return GV_OK;
}

/* One device_keys object of a /keys/query response; GV_EPERM if refused. */
static enum gv_err ingest_device(struct gv_crypto *c, const char *user, const char *device,
                                 const cJSON *dk)
{
        char kid[256], ckid[256], *text;
        const char *ed, *cu;
        struct known k;
        enum gv_err r;

        if (strlen(device) > 200)
                return GV_EPERM;
        snprintf(kid, sizeof(kid), "ed25519:%s", device);
        snprintf(ckid, sizeof(ckid), "curve25519:%s", device);
        ed = gv_js_str(gv_js_obj(dk, "keys"), kid);
        cu = gv_js_str(gv_js_obj(dk, "keys"), ckid);
        if (!str_eq(gv_js_str(dk, "user_id"), user) ||
            !str_eq(gv_js_str(dk, "device_id"), device) || !ed || !cu)
                return GV_EPERM;
        if (gv_crypto_verify_json(dk, user, kid, ed) != GV_OK)
                return GV_EPERM;
        if (str_eq(user, c->user_id) && str_eq(device, c->device_id) &&
            (!str_eq(ed, c->ed) || !str_eq(cu, c->curve)))
                return GV_EPERM;        /* someone else's keys under our device ID */
        r = device_find(c, user, device, NULL, &k);
        if (r == GV_OK) {
                bool same = str_eq(k.found_ed, ed);

                known_clear(&k);
                if (!same)
                        return GV_EPERM;
        } else if (r != GV_ENOTFOUND)
                return r;
        text = cJSON_PrintUnformatted(dk);
        if (!text)
                return GV_ENOMEM;
        r = gv_store_crypto_device_set(c->st, user, device, cu, ed, text);
        free(text);
        return r ? fail(c, r, "saving a device: %s", gv_store_errmsg(c->st)) : GV_OK;
}

enum gv_err gv_crypto_keys_query_ingest(struct gv_crypto *c, const cJSON *response,
                                        size_t *rejected)
{
        const cJSON *users = gv_js_obj(response, "device_keys");
        size_t bad = 0;
        enum gv_err r = GV_OK;

        if (rejected)
                *rejected = 0;
        if (!users)
                return fail(c, GV_EPARSE, "/keys/query: no device_keys object");
        for (const cJSON *u = users->child; u && !r; u = u->next) {
                struct known k;

                if (!cJSON_IsObject(u) || !u->string)
                        continue;
                for (const cJSON *d = u->child; d && !r; d = d->next) {
                        r = cJSON_IsObject(d) && d->string ?
                            ingest_device(c, u->string, d->string, d) : GV_EPERM;
                        if (r == GV_EPERM) {
                                bad++;
                                r = GV_OK;
                        }
                }
                if (r)
                        break;
                /* devices the server no longer lists are gone */
                memset(&k, 0, sizeof(k));
                k.listed = u;
                r = gv_store_crypto_devices(c->st, u->string, known_cb, &k);
                for (size_t i = 0; !r && i < k.n_gone; i++)
                        r = gv_store_crypto_device_del(c->st, u->string, k.gone[i]);
                known_clear(&k);
                if (!r)
                        r = gv_store_crypto_user_set(c->st, u->string, false);
                if (r)
                        r = fail(c, r, "saving devices: %s", gv_store_errmsg(c->st));
        }
        if (rejected)
                *rejected = bad;
        return r;
}

struct dev_each {
        const char *user_id;
        int (*cb)(void *ud, const struct gv_crypto_device *d);
        void *ud;
};

static int dev_each_cb(void *ud, const char *device_id, const char *curve, const char *ed,
                       const char *keys)
{
        struct dev_each *e = ud;
        struct gv_crypto_device d = { e->user_id, device_id, curve, ed };

        (void)keys;
        return e->cb(e->ud, &d);
}

enum gv_err gv_crypto_devices(struct gv_crypto *c, const char *user_id,
                              int (*cb)(void *ud, const struct gv_crypto_device *d), void *ud)
{
        struct dev_each e = { user_id, cb, ud };
        enum gv_err r = gv_store_crypto_devices(c->st, user_id, dev_each_cb, &e);

        return r ? fail(c, r, "reading devices: %s", gv_store_errmsg(c->st)) : GV_OK;
}

/* ---- Olm sessions ----------------------------------------------------- */

static OlmSession *session_new(void)
{
        void *m = malloc(olm_session_size());

        return m ? olm_session(m) : NULL;
}

static void session_free(OlmSession *s)
{
        if (s) {
                olm_clear_session(s);
                free(s);
        }
}

static enum gv_err session_save(struct gv_crypto *c, const char *their_key, OlmSession *s)
{
        size_t il = olm_session_id_length(s), pl = olm_pickle_session_length(s);
        char *id = malloc(il + 1), *p = malloc(pl + 1);
        enum gv_err r = GV_OK;

        if (!id || !p) {
                r = GV_ENOMEM;
                goto out;
        }
        if (olm_session_id(s, id, il) == olm_error() ||
            olm_pickle_session(s, c->pkey, c->pkey_len, p, pl) == olm_error()) {
                r = fail(c, GV_ECRYPTO, "pickling an Olm session: %s", olm_session_last_error(s));
                goto out;
        }
        id[il] = '\0';
        p[pl] = '\0';
        r = gv_store_olm_session_set(c->st, their_key, id, p, now_ms());
        if (r)
                r = fail(c, r, "saving an Olm session: %s", gv_store_errmsg(c->st));
out:
        free(id);
        wipe_free(p, pl);
        return r;
}

static enum gv_err session_unpickle(struct gv_crypto *c, const char *pickle, OlmSession **ret)
{
        OlmSession *s = session_new();
        char *p = strdup(pickle);
        enum gv_err r = GV_OK;

        if (!s || !p)
                r = GV_ENOMEM;
        else if (olm_unpickle_session(s, c->pkey, c->pkey_len, p, strlen(p)) == olm_error())
                r = fail(c, GV_ECRYPTO, "cannot read an Olm session: %s",
                         olm_session_last_error(s));
        wipe_str(p);
        if (r) {
                session_free(s);
                return r;
        }
        *ret = s;
        return GV_OK;
}

/* Decrypts one Olm message with s: *plain (NUL-terminated, the caller wipes). */
static enum gv_err session_decrypt(struct gv_crypto *c, OlmSession *s, size_t type,
                                   const char *body, char **plain, size_t *plen)
{
        size_t bl = strlen(body), max, n;
        char *copy = dupn(body, bl), *out = NULL;
        enum gv_err r = GV_OK;

        if (!copy)
                return GV_ENOMEM;
        max = olm_decrypt_max_plaintext_length(s, type, copy, bl);
        if (max == olm_error()) {
                r = fail(c, GV_ECRYPTO, "Olm message: %s", olm_session_last_error(s));
                goto out;
        }
        memcpy(copy, body, bl);
        out = malloc(max + 1);
        if (!out) {
                r = GV_ENOMEM;
                goto out;
        }
        n = olm_decrypt(s, type, copy, bl, out, max);
        if (n == olm_error()) {
                r = fail(c, GV_ECRYPTO, "Olm message: %s", olm_session_last_error(s));
                wipe_free(out, max + 1);
                out = NULL;
                goto out;
        }
        out[n] = '\0';
        *plain = out;
        *plen = n;
out:
        wipe_free(copy, bl);
        return r;
}

struct olm_try {
        struct gv_crypto *c;
        const char *their_key;
        size_t type;
        const char *body;
        OlmSession *hit;
        char *plain;
        size_t plen;
        enum gv_err r;
};

static int olm_try_cb(void *ud, const char *session_id, const char *pickle)
{
        struct olm_try *t = ud;
        OlmSession *s = NULL;

        (void)session_id;
        if (session_unpickle(t->c, pickle, &s))
                return 0;
        if (t->type == OLM_MESSAGE_TYPE_PRE_KEY) {
                size_t bl = strlen(t->body), m;
                char *copy = dupn(t->body, bl);

                if (!copy) {
                        session_free(s);
                        t->r = GV_ENOMEM;
                        return 1;
                }
                m = olm_matches_inbound_session_from(s, t->their_key, strlen(t->their_key),
                                                     copy, bl);
                wipe_free(copy, bl);
                if (m != 1) {
                        session_free(s);
                        return 0;
                }
        }
        t->r = session_decrypt(t->c, s, t->type, t->body, &t->plain, &t->plen);
        if (t->r == GV_OK) {
                t->hit = s;
                return 1;
        }
        session_free(s);
        /* a pre-key message that matched this session but does not decrypt is bad */
        return t->type == OLM_MESSAGE_TYPE_PRE_KEY;
}

/* Decrypts an Olm message from their_key: an existing session, or (pre-key)
 * a new inbound one. *s is the session to save once the plaintext passed
 * its checks; *created says the account changed (a one-time key used). */
static enum gv_err olm_decrypt_msg(struct gv_crypto *c, const char *their_key, size_t type,
                                   const char *body, OlmSession **s, bool *created, char **plain,
                                   size_t *plen)
{
        struct olm_try t = { c, their_key, type, body, NULL, NULL, 0, GV_ENOTFOUND };
        enum gv_err r;
        size_t bl;
        char *copy;
        OlmSession *ns;

        *created = false;
        r = gv_store_olm_sessions(c->st, their_key, olm_try_cb, &t);
        if (r)
                return fail(c, r, "reading Olm sessions: %s", gv_store_errmsg(c->st));
        if (t.hit) {
                *s = t.hit;
                *plain = t.plain;
                *plen = t.plen;
                return GV_OK;
        }
        if (type != OLM_MESSAGE_TYPE_PRE_KEY) {
                if (t.r == GV_ENOTFOUND)
                        return fail(c, GV_ENOTFOUND, "Olm message: no session decrypts it");
                return t.r == GV_ENOMEM ? GV_ENOMEM : fail(c, GV_ENOTFOUND,
                                                           "Olm message: no session decrypts it");
        }
        if (t.r != GV_ENOTFOUND)
                return t.r;
        ns = session_new();
        bl = strlen(body);
        copy = dupn(body, bl);
        if (!ns || !copy) {
                session_free(ns);
                free(copy);
                return GV_ENOMEM;
        }
        if (olm_create_inbound_session_from(ns, c->acc, their_key, strlen(their_key), copy, bl) ==
            olm_error()) {
                r = fail(c, GV_ECRYPTO, "Olm pre-key message: %s", olm_session_last_error(ns));
                goto fail;
        }
        if (olm_remove_one_time_keys(c->acc, ns) == olm_error()) {
                r = acc_fail(c, "Olm pre-key message");
                goto fail;
        }
        *created = true;
        r = session_decrypt(c, ns, type, body, plain, plen);
        if (r)
                goto fail;
        wipe_free(copy, bl);
        *s = ns;
        return GV_OK;
fail:
        wipe_free(copy, bl);
        session_free(ns);
        if (*created) {
                *created = false;
                (void)account_load(c);  /* give the one-time key back */
        }
        return r;
}

struct first_session {
        struct gv_crypto *c;
        OlmSession *s;
};

static int first_session_cb(void *ud, const char *session_id, const char *pickle)
{
        struct first_session *f = ud;

        (void)session_id;
        return session_unpickle(f->c, pickle, &f->s) == GV_OK;
}

/* The OTK in a claim response's per-device object, its signature checked. */
static enum gv_err claimed_otk(struct gv_crypto *c, const char *user, const char *device,
                               const char *ed, const cJSON *otks, const char **key)
{
        char kid[256];

        snprintf(kid, sizeof(kid), "ed25519:%s", device);
        for (const cJSON *e = otks ? otks->child : NULL; e; e = e->next) {
                const char *k = gv_js_str(e, "key");

                if (!e->string || strncmp(e->string, "signed_curve25519:", 18) != 0 || !k)
                        continue;
                if (gv_crypto_verify_json(e, user, kid, ed) != GV_OK)
                        return fail(c, GV_EPERM, "a one-time key of %s %s is not signed by "
                                    "the device", user, device);
                *key = k;
                return GV_OK;
        }
        return fail(c, GV_ENOTFOUND, "no one-time key claimed for %s %s", user, device);
}

/* Olm-encrypts type/content for a device (curve, ed) of user; *enc is the
 * m.room.encrypted to-device content. */
static enum gv_err olm_encrypt_for(struct gv_crypto *c, const char *user, const char *device,
                                   const char *curve, const char *ed, const cJSON *otks,
                                   const char *type, const cJSON *content, cJSON **enc)
{
        struct first_session f = { c, NULL };
        cJSON *pl = NULL, *o = NULL, *ct, *msg;
        char *plain = NULL, *rb = NULL, *out = NULL;
        size_t rl = 0, ml = 0, mtype;
        enum gv_err r;

        r = account_fresh(c);
        if (r)
                return r;
        r = gv_store_olm_sessions(c->st, curve, first_session_cb, &f);
        if (r)
                return fail(c, r, "reading Olm sessions: %s", gv_store_errmsg(c->st));
        if (!f.s) {
                const char *otk = NULL;

                r = claimed_otk(c, user, device, ed, otks, &otk);
                if (r)
                        return r;
                f.s = session_new();
                if (!f.s)
                        return GV_ENOMEM;
                rl = olm_create_outbound_session_random_length(f.s);
                rb = malloc(rl ? rl : 1);
                if (!rb) {
                        r = GV_ENOMEM;
                        goto out;
                }
                r = rnd(c, rb, rl);
                if (r)
                        goto out;
                if (olm_create_outbound_session(f.s, c->acc, curve, strlen(curve), otk, strlen(otk),
                                                rb, rl) == olm_error()) {
                        r = fail(c, GV_ECRYPTO, "new Olm session: %s", olm_session_last_error(f.s));
                        goto out;
                }
                wipe_free(rb, rl);
                rb = NULL;
        }
        r = GV_ENOMEM;
        pl = cJSON_CreateObject();
        if (!pl || !cJSON_AddStringToObject(pl, "type", type) ||
            !cJSON_AddItemToObject(pl, "content", cJSON_Duplicate(content, 1)) ||
            !cJSON_AddStringToObject(pl, "sender", c->user_id) ||
            !cJSON_AddStringToObject(pl, "sender_device", c->device_id) ||
            !cJSON_AddStringToObject(pl, "recipient", user) ||
            !(o = cJSON_AddObjectToObject(pl, "recipient_keys")) ||
            !cJSON_AddStringToObject(o, "ed25519", ed) ||
            !(o = cJSON_AddObjectToObject(pl, "keys")) ||
            !cJSON_AddStringToObject(o, "ed25519", c->ed))
                goto out;
        o = NULL;
        plain = cJSON_PrintUnformatted(pl);
        if (!plain)
                goto out;
        mtype = olm_encrypt_message_type(f.s);
        rl = olm_encrypt_random_length(f.s);
        ml = olm_encrypt_message_length(f.s, strlen(plain));
        rb = malloc(rl ? rl : 1);
        out = malloc(ml + 1);
        if (!rb || !out)
                goto out;
        r = rnd(c, rb, rl);
        if (r)
                goto out;
        if (mtype == olm_error() ||
            olm_encrypt(f.s, plain, strlen(plain), rb, rl, out, ml) == olm_error()) {
                r = fail(c, GV_ECRYPTO, "Olm encrypt: %s", olm_session_last_error(f.s));
                goto out;
        }
        out[ml] = '\0';
        r = session_save(c, curve, f.s);
        if (r)
                goto out;
        r = GV_ENOMEM;
        o = cJSON_CreateObject();
        if (!o || !cJSON_AddStringToObject(o, "algorithm", GV_CRYPTO_OLM) ||
            !cJSON_AddStringToObject(o, "sender_key", c->curve) ||
            !(ct = cJSON_AddObjectToObject(o, "ciphertext")) ||
            !(msg = cJSON_AddObjectToObject(ct, curve)) ||
            !cJSON_AddNumberToObject(msg, "type", (double)mtype) ||
            !cJSON_AddStringToObject(msg, "body", out))
                goto out;
        *enc = o;
        o = NULL;
        r = GV_OK;
out:
        cJSON_Delete(o);
        js_wipe_delete(pl);
        wipe_str(plain);
        wipe_free(rb, rl);
        free(out);
        session_free(f.s);
        return r;
}

enum gv_err gv_crypto_olm_encrypt(struct gv_crypto *c, const char *user_id, const char *device_id,
                                  const cJSON *otk, const char *type, const cJSON *content,
                                  cJSON **enc)
{
        struct known k;
        enum gv_err r;

        *enc = NULL;
        if (!user_id || !device_id || !type || !content)
                return GV_EINVAL;
        r = device_find(c, user_id, device_id, NULL, &k);
        if (r == GV_ENOTFOUND)
                return fail(c, r, "unknown device %s %s", user_id, device_id);
        if (r)
                return r;
        r = olm_encrypt_for(c, user_id, device_id, k.found_curve, k.found_ed, otk, type, content,
                            enc);
        known_clear(&k);
        return r;
}

/* ---- Megolm sessions -------------------------------------------------- */

static OlmInboundGroupSession *igs_new(void)
{
        void *m = malloc(olm_inbound_group_session_size());

        return m ? olm_inbound_group_session(m) : NULL;
}

static void igs_free(OlmInboundGroupSession *s)
{
        if (s) {
                olm_clear_inbound_group_session(s);
                free(s);
        }
}

static OlmOutboundGroupSession *ogs_new(void)
{
        void *m = malloc(olm_outbound_group_session_size());

        return m ? olm_outbound_group_session(m) : NULL;
}

static void ogs_free(OlmOutboundGroupSession *s)
{
        if (s) {
                olm_clear_outbound_group_session(s);
                free(s);
        }
}

/* A new inbound session from a session key (m.room_key's session_key);
 * *id is its session ID. */
static enum gv_err igs_from_key(struct gv_crypto *c, const char *session_key,
                                OlmInboundGroupSession **ret, char **id)
{
        OlmInboundGroupSession *s = igs_new();
        size_t kl = strlen(session_key), il;
        char *copy = dupn(session_key, kl), *sid = NULL;
        enum gv_err r = GV_OK;

        if (!s || !copy) {
                r = GV_ENOMEM;
                goto out;
        }
        if (olm_init_inbound_group_session(s, (const uint8_t *)copy, kl) == olm_error()) {
                r = fail(c, GV_ECRYPTO, "room key: %s", olm_inbound_group_session_last_error(s));
                goto out;
        }
        il = olm_inbound_group_session_id_length(s);
        sid = malloc(il + 1);
        if (!sid) {
                r = GV_ENOMEM;
                goto out;
        }
        if (olm_inbound_group_session_id(s, (uint8_t *)sid, il) == olm_error()) {
                r = fail(c, GV_ECRYPTO, "room key: %s", olm_inbound_group_session_last_error(s));
                goto out;
        }
        sid[il] = '\0';
        *ret = s;
        s = NULL;
        *id = sid;
        sid = NULL;
out:
        free(sid);
        wipe_free(copy, kl);
        igs_free(s);
        return r;
}

static enum gv_err igs_save(struct gv_crypto *c, const char *room, const char *sender_key,
                            const char *session_id, const char *ed, OlmInboundGroupSession *s)
{
        size_t pl = olm_pickle_inbound_group_session_length(s);
        char *p = malloc(pl + 1);
        enum gv_err r;

        if (!p)
                return GV_ENOMEM;
        if (olm_pickle_inbound_group_session(s, c->pkey, c->pkey_len, p, pl) == olm_error()) {
                free(p);
                return fail(c, GV_ECRYPTO, "pickling a room key: %s",
                            olm_inbound_group_session_last_error(s));
        }
        p[pl] = '\0';
        r = gv_store_megolm_in_set(c->st, room, sender_key, session_id, ed, p);
        wipe_free(p, pl);
        return r ? fail(c, r, "saving a room key: %s", gv_store_errmsg(c->st)) : GV_OK;
}

/* Stores an inbound session unless one with this ID is known already. */
static enum gv_err room_key_add(struct gv_crypto *c, const char *room, const char *sender_key,
                                const char *ed, const char *session_id, const char *session_key)
{
        OlmInboundGroupSession *s = NULL;
        char *id = NULL, *old_ed = NULL, *old_p = NULL;
        enum gv_err r;

        r = gv_store_megolm_in_get(c->st, room, sender_key, session_id, &old_ed, &old_p);
        free(old_ed);
        wipe_str(old_p);
        if (r == GV_OK)
                return GV_OK;
        if (r != GV_ENOTFOUND)
                return fail(c, r, "reading room keys: %s", gv_store_errmsg(c->st));
        r = igs_from_key(c, session_key, &s, &id);
        if (r)
                return r;
        if (!str_eq(id, session_id))
                r = fail(c, GV_EPERM, "room key: session_id does not match the key");
        else
                r = igs_save(c, room, sender_key, session_id, ed, s);
        free(id);
        igs_free(s);
        return r;
}

/* ---- to-device in ----------------------------------------------------- */

void gv_crypto_todevice_clear(struct gv_crypto_todevice *t)
{
        free(t->sender);
        free(t->sender_key);
        free(t->type);
        free(t->room_id);
        free(t->session_id);
        free(t->code);
        free(t->reason);
        js_wipe_delete(t->plaintext);
        memset(t, 0, sizeof(*t));
}

static enum gv_err set_str(char **dst, const char *v)
{
        if (!v)
                return GV_OK;
        *dst = strdup(v);
        return *dst ? GV_OK : GV_ENOMEM;
}

/* An m.room_key from the Olm session with sender_key, whose plaintext
 * claimed the ed25519 key ed. */
static enum gv_err todevice_room_key(struct gv_crypto *c, const cJSON *pt, const char *sender,
                                     const char *sender_key, const char *ed,
                                     struct gv_crypto_todevice *out)
{
        const cJSON *ct = gv_js_obj(pt, "content");
        const char *room = gv_js_str(ct, "room_id"), *sid = gv_js_str(ct, "session_id");
        const char *skey = gv_js_str(ct, "session_key");
        enum gv_err r;

        if (!str_eq(gv_js_str(ct, "algorithm"), GV_CRYPTO_MEGOLM) || !room || !sid || !skey)
                return fail(c, GV_EPARSE, "m.room_key from %s: not a Megolm key", sender);
        r = room_key_add(c, room, sender_key, ed, sid, skey);
        if (r)
                return r;
        out->kind = GV_TD_ROOM_KEY;
        r = set_str(&out->room_id, room);
        if (!r)
                r = set_str(&out->session_id, sid);
        return r;
}

enum gv_err gv_crypto_todevice_in(struct gv_crypto *c, const cJSON *event,
                                  struct gv_crypto_todevice *out)
{
        const char *type = gv_js_str(event, "type"), *sender = gv_js_str(event, "sender");
        const cJSON *ct = gv_js_obj(event, "content"), *msg;
        const char *skey, *body, *ptype, *ed;
        OlmSession *s = NULL;
        bool created = false;
        char *plain = NULL;
        size_t plen = 0;
        cJSON *pt = NULL;
        struct known k;
        int64_t mtype;
        enum gv_err r;

        memset(out, 0, sizeof(*out));
        if (!type || !sender || !ct)
                return fail(c, GV_EPARSE, "to-device event without type, sender or content");
        r = set_str(&out->sender, sender);
        if (!r)
                r = set_str(&out->type, type);
        if (r)
                return r;
        if (str_eq(type, "m.room_key.withheld")) {
                out->kind = GV_TD_WITHHELD;
                r = set_str(&out->room_id, gv_js_str(ct, "room_id"));
                if (!r)
                        r = set_str(&out->session_id, gv_js_str(ct, "session_id"));
                if (!r)
                        r = set_str(&out->sender_key, gv_js_str(ct, "sender_key"));
                if (!r)
                        r = set_str(&out->code, gv_js_str(ct, "code"));
                if (!r)
                        r = set_str(&out->reason, gv_js_str(ct, "reason"));
                return r;
        }
        if (!str_eq(type, "m.room.encrypted") ||
            !str_eq(gv_js_str(ct, "algorithm"), GV_CRYPTO_OLM))
                return GV_OK;   /* GV_TD_IGNORED */
        r = account_fresh(c);
        if (r)
                return r;
        skey = gv_js_str(ct, "sender_key");
        msg = gv_js_obj(gv_js_obj(ct, "ciphertext"), c->curve);
        body = gv_js_str(msg, "body");
        mtype = gv_js_uint(msg, "type", -1);
        if (!skey)
                return fail(c, GV_EPARSE, "Olm message from %s without sender_key", sender);
        r = set_str(&out->sender_key, skey);
        if (r)
                return r;
        if (!gv_js_obj(ct, "ciphertext"))
                return fail(c, GV_EPARSE, "Olm message from %s without ciphertext", sender);
        if (!msg)
                return fail(c, GV_EPERM, "Olm message from %s is not for this device", sender);
        if (!body || (mtype != OLM_MESSAGE_TYPE_PRE_KEY && mtype != OLM_MESSAGE_TYPE_MESSAGE))
                return fail(c, GV_EPARSE, "Olm message from %s: no body or bad type", sender);
        if (strlen(body) > GV_CRYPTO_MAX_CIPHERTEXT)
                return fail(c, GV_ETOOBIG, "Olm message from %s over %d bytes", sender,
                            GV_CRYPTO_MAX_CIPHERTEXT);
        r = olm_decrypt_msg(c, skey, (size_t)mtype, body, &s, &created, &plain, &plen);
        if (r)
                return r;
        pt = cJSON_ParseWithLength(plain, plen);
        ptype = gv_js_str(pt, "type");
        ed = gv_js_str(gv_js_obj(pt, "keys"), "ed25519");
        if (!pt || !ptype || !gv_js_obj(pt, "content") || !ed) {
                r = fail(c, GV_EPARSE, "Olm plaintext from %s: not an event", sender);
                goto out;
        }
        if (!str_eq(gv_js_str(pt, "sender"), sender) ||
            !str_eq(gv_js_str(pt, "recipient"), c->user_id) ||
            !str_eq(gv_js_str(gv_js_obj(pt, "recipient_keys"), "ed25519"), c->ed)) {
                r = fail(c, GV_EPERM, "Olm plaintext from %s: wrong sender, recipient or "
                         "recipient_keys", sender);
                goto out;
        }
        /* a known device of the sender with this curve25519 must have this ed25519 */
        r = device_find(c, sender, NULL, skey, &k);
        if (r == GV_OK) {
                bool same = str_eq(k.found_ed, ed);

                known_clear(&k);
                if (!same) {
                        r = fail(c, GV_EPERM, "Olm plaintext from %s: the ed25519 key is not "
                                 "the device's", sender);
                        goto out;
                }
        } else if (r != GV_ENOTFOUND)
                goto out;
        /* the session decrypted it: keep its new state, and the used OTK gone */
        r = session_save(c, skey, s);
        if (!r && created)
                r = account_save(c);
        if (r)
                goto out;
        created = false;
        free(out->type);
        out->type = NULL;
        r = set_str(&out->type, ptype);
        if (r)
                goto out;
        if (str_eq(ptype, "m.room_key")) {
                r = todevice_room_key(c, pt, sender, skey, ed, out);
                goto out;
        }
        out->kind = GV_TD_DECRYPTED;
        out->plaintext = pt;
        pt = NULL;
out:
        if (created)
                (void)account_load(c);  /* nothing kept: the one-time key stays */
        js_wipe_delete(pt);
        wipe_free(plain, plen);
        session_free(s);
        return r;
}

/* ---- room events in --------------------------------------------------- */

void gv_crypto_decrypted_clear(struct gv_crypto_decrypted *d)
{
        js_wipe_delete(d->payload);
        free(d->sender_key);
        free(d->session_id);
        memset(d, 0, sizeof(*d));
}

enum gv_err gv_crypto_room_decrypt(struct gv_crypto *c, const char *room_id, const cJSON *event,
                                   struct gv_crypto_decrypted *out)
{
        const cJSON *ct = gv_js_obj(event, "content");
        const char *eid = gv_js_str(event, "event_id"), *sender = gv_js_str(event, "sender");
        const char *skey = gv_js_str(ct, "sender_key"), *sid = gv_js_str(ct, "session_id");
        const char *ctext = gv_js_str(ct, "ciphertext");
        OlmInboundGroupSession *s = NULL;
        char *ed = NULL, *p = NULL, *copy = NULL, *plain = NULL;
        size_t cl = 0, max = 0, n;
        uint32_t index = 0;
        cJSON *pt = NULL;
        struct known k;
        bool fresh = false;
        enum gv_err r;

        memset(out, 0, sizeof(*out));
        if (!room_id || !eid || !sender || !str_eq(gv_js_str(ct, "algorithm"), GV_CRYPTO_MEGOLM) ||
            !skey || !sid || !ctext)
                return fail(c, GV_EPARSE, "not a Megolm event");
        cl = strlen(ctext);
        if (cl > GV_CRYPTO_MAX_CIPHERTEXT)
                return fail(c, GV_ETOOBIG, "Megolm ciphertext over %d bytes",
                            GV_CRYPTO_MAX_CIPHERTEXT);
        r = gv_store_megolm_in_get(c->st, room_id, skey, sid, &ed, &p);
        if (r == GV_ENOTFOUND)
                return fail(c, r, "no room key yet for session %s", sid);
        if (r)
                return fail(c, r, "reading room keys: %s", gv_store_errmsg(c->st));
        s = igs_new();
        if (!s) {
                r = GV_ENOMEM;
                goto out;
        }
        if (olm_unpickle_inbound_group_session(s, c->pkey, c->pkey_len, p, strlen(p)) ==
            olm_error()) {
                r = fail(c, GV_ECRYPTO, "cannot read a room key: %s",
                         olm_inbound_group_session_last_error(s));
                goto out;
        }
        copy = dupn(ctext, cl);
        if (!copy) {
                r = GV_ENOMEM;
                goto out;
        }
        max = olm_group_decrypt_max_plaintext_length(s, (uint8_t *)copy, cl);
        if (max == olm_error()) {
                r = fail(c, GV_ECRYPTO, "Megolm message: %s",
                         olm_inbound_group_session_last_error(s));
                goto out;
        }
        memcpy(copy, ctext, cl);
        plain = malloc(max + 1);
        if (!plain) {
                r = GV_ENOMEM;
                goto out;
        }
        n = olm_group_decrypt(s, (uint8_t *)copy, cl, (uint8_t *)plain, max, &index);
        if (n == olm_error()) {
                bool unknown = olm_inbound_group_session_last_error_code(s) ==
                               OLM_UNKNOWN_MESSAGE_INDEX;

                r = fail(c, unknown ? GV_ENOTFOUND : GV_ECRYPTO, "Megolm message: %s",
                         olm_inbound_group_session_last_error(s));
                goto out;
        }
        plain[n] = '\0';
        pt = cJSON_ParseWithLength(plain, n);
        if (!gv_js_str(pt, "type") || !gv_js_obj(pt, "content")) {
                r = fail(c, GV_EPARSE, "Megolm plaintext is not an event");
                goto out;
        }
        if (!str_eq(gv_js_str(pt, "room_id"), room_id)) {
                r = fail(c, GV_EPERM, "Megolm plaintext names another room");
                goto out;
        }
        r = gv_store_megolm_seen(c->st, room_id, skey, sid, index, eid, &fresh);
        if (r) {
                r = fail(c, r, "recording a message index: %s", gv_store_errmsg(c->st));
                goto out;
        }
        if (!fresh) {
                r = fail(c, GV_EPERM, "Megolm message index %u of session %s replayed under "
                         "another event ID", (unsigned)index, sid);
                goto out;
        }
        r = device_find(c, sender, NULL, skey, &k);
        if (r == GV_OK) {
                out->key_verified = str_eq(k.found_ed, ed);
                known_clear(&k);
        } else if (r != GV_ENOTFOUND)
                goto out;
        r = set_str(&out->sender_key, skey);
        if (!r)
                r = set_str(&out->session_id, sid);
        if (r)
                goto out;
        out->index = index;
        out->payload = pt;
        pt = NULL;
out:
        if (r)
                gv_crypto_decrypted_clear(out);
        js_wipe_delete(pt);
        wipe_free(plain, max + 1);
        wipe_free(copy, cl);
        igs_free(s);
        free(ed);
        wipe_str(p);
        return r;
}

enum gv_err gv_crypto_key_request_body(struct gv_crypto *c, const char *room_id,
                                       const char *sender, const cJSON *event_content,
                                       const char *request_id, cJSON **body)
{
        const char *skey = gv_js_str(event_content, "sender_key");
        const char *sid = gv_js_str(event_content, "session_id");
        cJSON *b = NULL, *req, *rb;

        *body = NULL;
        if (!room_id || !sender || !request_id || !skey || !sid)
                return fail(c, GV_EINVAL, "a key request needs the room, sender, sender_key, "
                            "session_id and a request ID");
        b = cJSON_CreateObject();
        req = b ? cJSON_AddObjectToObject(cJSON_AddObjectToObject(cJSON_AddObjectToObject(
                          b, "messages"), sender), "*") : NULL;
        if (!req || !cJSON_AddStringToObject(req, "action", "request") ||
            !cJSON_AddStringToObject(req, "request_id", request_id) ||
            !cJSON_AddStringToObject(req, "requesting_device_id", c->device_id) ||
            !(rb = cJSON_AddObjectToObject(req, "body")) ||
            !cJSON_AddStringToObject(rb, "algorithm", GV_CRYPTO_MEGOLM) ||
            !cJSON_AddStringToObject(rb, "room_id", room_id) ||
            !cJSON_AddStringToObject(rb, "sender_key", skey) ||
            !cJSON_AddStringToObject(rb, "session_id", sid)) {
                cJSON_Delete(b);
                return GV_ENOMEM;
        }
        *body = b;
        return GV_OK;
}

/* ---- room events out -------------------------------------------------- */

enum gv_err gv_crypto_room_rotate(struct gv_crypto *c, const char *room_id)
{
        enum gv_err r = gv_store_megolm_out_del(c->st, room_id);

        return r ? fail(c, r, "dropping the room's session: %s", gv_store_errmsg(c->st)) : GV_OK;
}

static enum gv_err ogs_unpickle(struct gv_crypto *c, const char *pickle,
                                OlmOutboundGroupSession **ret)
{
        OlmOutboundGroupSession *s = ogs_new();
        char *p = strdup(pickle);
        enum gv_err r = GV_OK;

        if (!s || !p)
                r = GV_ENOMEM;
        else if (olm_unpickle_outbound_group_session(s, c->pkey, c->pkey_len, p, strlen(p)) ==
                 olm_error())
                r = fail(c, GV_ECRYPTO, "cannot read the room's session: %s",
                         olm_outbound_group_session_last_error(s));
        wipe_str(p);
        if (r) {
                ogs_free(s);
                return r;
        }
        *ret = s;
        return GV_OK;
}

/* Pickles s into o->pickle (replacing it). */
static enum gv_err ogs_pickle(struct gv_crypto *c, OlmOutboundGroupSession *s,
                              struct gv_megolm_out *o)
{
        size_t pl = olm_pickle_outbound_group_session_length(s);
        char *p = malloc(pl + 1);

        if (!p)
                return GV_ENOMEM;
        if (olm_pickle_outbound_group_session(s, c->pkey, c->pkey_len, p, pl) == olm_error()) {
                free(p);
                return fail(c, GV_ECRYPTO, "pickling the room's session: %s",
                            olm_outbound_group_session_last_error(s));
        }
        p[pl] = '\0';
        wipe_str(o->pickle);
        o->pickle = p;
        return GV_OK;
}

/* The session key (for m.room_key) of s: the caller wipes it. */
static enum gv_err ogs_key(struct gv_crypto *c, OlmOutboundGroupSession *s, char **key)
{
        size_t kl = olm_outbound_group_session_key_length(s);
        char *k = malloc(kl + 1);

        if (!k)
                return GV_ENOMEM;
        if (olm_outbound_group_session_key(s, (uint8_t *)k, kl) == olm_error()) {
                free(k);
                return fail(c, GV_ECRYPTO, "the room's session key: %s",
                            olm_outbound_group_session_last_error(s));
        }
        k[kl] = '\0';
        *key = k;
        return GV_OK;
}

static enum gv_err room_new_session(struct gv_crypto *c, const char *room_id, int64_t now)
{
        OlmOutboundGroupSession *s = ogs_new();
        struct gv_megolm_out o = { NULL, NULL, now, 0 };
        size_t rl = 0, il;
        void *rb = NULL;
        char *key = NULL;
        enum gv_err r = GV_ENOMEM;

        if (!s)
                return GV_ENOMEM;
        rl = olm_init_outbound_group_session_random_length(s);
        rb = malloc(rl ? rl : 1);
        il = olm_outbound_group_session_id_length(s);
        o.session_id = malloc(il + 1);
        if (!rb || !o.session_id)
                goto out;
        r = rnd(c, rb, rl);
        if (r)
                goto out;
        if (olm_init_outbound_group_session(s, rb, rl) == olm_error() ||
            olm_outbound_group_session_id(s, (uint8_t *)o.session_id, il) == olm_error()) {
                r = fail(c, GV_ECRYPTO, "new room session: %s",
                         olm_outbound_group_session_last_error(s));
                goto out;
        }
        o.session_id[il] = '\0';
        r = ogs_pickle(c, s, &o);
        if (!r)
                r = gv_crypto_room_rotate(c, room_id);
        if (!r && (r = gv_store_megolm_out_set(c->st, room_id, &o)))
                r = fail(c, r, "saving the room's session: %s", gv_store_errmsg(c->st));
        /* our own messages decrypt too */
        if (!r)
                r = ogs_key(c, s, &key);
        if (!r)
                r = room_key_add(c, room_id, c->curve, c->ed, o.session_id, key);
out:
        wipe_str(key);
        wipe_free(rb, rl);
        gv_megolm_out_clear(&o);
        ogs_free(s);
        return r;
}

enum gv_err gv_crypto_room_prepare(struct gv_crypto *c, const char *room_id, const cJSON *settings,
                                   int64_t now)
{
        int64_t ms = gv_js_uint(settings, "rotation_period_ms", GV_CRYPTO_ROTATE_MS_DEFAULT);
        int64_t msgs = gv_js_uint(settings, "rotation_period_msgs", GV_CRYPTO_ROTATE_MSGS_DEFAULT);
        struct gv_megolm_out o;
        enum gv_err r;

        if (!room_id)
                return GV_EINVAL;
        if (settings && !str_eq(gv_js_str(settings, "algorithm"), GV_CRYPTO_MEGOLM))
                return fail(c, GV_EINVAL, "room %s: unsupported encryption algorithm", room_id);
        r = gv_store_megolm_out_get(c->st, room_id, &o);
        if (r == GV_OK) {
                bool expired = now - o.created >= ms || o.messages >= msgs ||
                               now < o.created - 60000;        /* the clock went back */

                gv_megolm_out_clear(&o);
                if (!expired)
                        return GV_OK;
        } else if (r != GV_ENOTFOUND)
                return fail(c, r, "reading the room's session: %s", gv_store_errmsg(c->st));
        return room_new_session(c, room_id, now);
}

/* Each device of members other than ours that lacks the session. */
struct need {
        struct gv_crypto *c;
        const char *room, *session_id;
        cJSON *claim;           /* {user: {device: "signed_curve25519"}} */
        size_t missing;
        enum gv_err r;
        /* room_share */
        const cJSON *claim_response;
        const cJSON *room_key;
        cJSON *messages;
        size_t skipped;
};

static int need_cb(void *ud, const struct gv_crypto_device *d)
{
        struct need *n = ud;
        struct first_session f = { n->c, NULL };
        bool has = false;

        if (str_eq(d->user_id, n->c->user_id) && str_eq(d->device_id, n->c->device_id))
                return 0;
        n->r = gv_store_megolm_shared_has(n->c->st, n->room, n->session_id, d->user_id,
                                          d->device_id, &has);
        if (n->r)
                return 1;
        if (has)
                return 0;
        n->missing++;
        if (n->claim) {
                cJSON *u;

                n->r = gv_store_olm_sessions(n->c->st, d->curve25519, first_session_cb, &f);
                if (n->r)
                        return 1;
                if (f.s) {
                        session_free(f.s);
                        return 0;
                }
                u = cJSON_GetObjectItemCaseSensitive(n->claim, d->user_id);
                if (!u)
                        u = cJSON_AddObjectToObject(n->claim, d->user_id);
                if (!u || !cJSON_AddStringToObject(u, d->device_id, "signed_curve25519")) {
                        n->r = GV_ENOMEM;
                        return 1;
                }
        }
        if (n->messages) {
                const cJSON *otk_all = gv_js_obj(n->claim_response, "one_time_keys");
                const cJSON *otks = gv_js_obj(gv_js_obj(otk_all, d->user_id), d->device_id);
                cJSON *enc = NULL, *u;
                enum gv_err r = olm_encrypt_for(n->c, d->user_id, d->device_id, d->curve25519,
                                                d->ed25519, otks, "m.room_key", n->room_key, &enc);

                if (r == GV_ENOTFOUND || r == GV_EPERM || r == GV_ECRYPTO) {
                        n->skipped++;   /* no key claimed, a forged one, a bad one */
                        return 0;
                }
                if (r) {
                        n->r = r;
                        return 1;
                }
                u = cJSON_GetObjectItemCaseSensitive(n->messages, d->user_id);
                if (!u)
                        u = cJSON_AddObjectToObject(n->messages, d->user_id);
                if (!u) {
                        cJSON_Delete(enc);
                        n->r = GV_ENOMEM;
                        return 1;
                }
                cJSON_AddItemToObject(u, d->device_id, enc);
        }
        return 0;
}

static enum gv_err each_member(struct gv_crypto *c, const char *const *members, size_t n,
                               struct need *nd)
{
        for (size_t i = 0; i < n; i++) {
                enum gv_err r;

                if (!members[i])
                        continue;
                r = gv_crypto_devices(c, members[i], need_cb, nd);
                if (r)
                        return r;
                if (nd->r)
                        return nd->r;
        }
        return GV_OK;
}

enum gv_err gv_crypto_room_share_needed(struct gv_crypto *c, const char *room_id,
                                        const char *const *members, size_t n, cJSON **claim,
                                        size_t *missing)
{
        struct need nd;
        struct gv_megolm_out o;
        cJSON *b = NULL;
        enum gv_err r;

        *claim = NULL;
        if (missing)
                *missing = 0;
        r = gv_store_megolm_out_get(c->st, room_id, &o);
        if (r == GV_ENOTFOUND)
                return fail(c, r, "room %s has no outbound session: prepare it first", room_id);
        if (r)
                return fail(c, r, "reading the room's session: %s", gv_store_errmsg(c->st));
        memset(&nd, 0, sizeof(nd));
        nd.c = c;
        nd.room = room_id;
        nd.session_id = o.session_id;
        b = cJSON_CreateObject();
        nd.claim = b ? cJSON_AddObjectToObject(b, "one_time_keys") : NULL;
        r = nd.claim ? each_member(c, members, n, &nd) : GV_ENOMEM;
        if (!r && nd.claim->child) {
                cJSON_AddNumberToObject(b, "timeout", 10000);
                *claim = b;
                b = NULL;
        }
        if (!r && missing)
                *missing = nd.missing;
        cJSON_Delete(b);
        gv_megolm_out_clear(&o);
        return r;
}

enum gv_err gv_crypto_room_share(struct gv_crypto *c, const char *room_id,
                                 const char *const *members, size_t n,
                                 const cJSON *claim_response, cJSON **body, size_t *skipped)
{
        OlmOutboundGroupSession *s = NULL;
        struct gv_megolm_out o;
        struct need nd;
        cJSON *b = NULL, *rk = NULL;
        char *key = NULL;
        enum gv_err r;

        *body = NULL;
        if (skipped)
                *skipped = 0;
        r = gv_store_megolm_out_get(c->st, room_id, &o);
        if (r == GV_ENOTFOUND)
                return fail(c, r, "room %s has no outbound session: prepare it first", room_id);
        if (r)
                return fail(c, r, "reading the room's session: %s", gv_store_errmsg(c->st));
        r = ogs_unpickle(c, o.pickle, &s);
        if (!r)
                r = ogs_key(c, s, &key);
        if (r)
                goto out;
        r = GV_ENOMEM;
        rk = cJSON_CreateObject();
        if (!rk || !cJSON_AddStringToObject(rk, "algorithm", GV_CRYPTO_MEGOLM) ||
            !cJSON_AddStringToObject(rk, "room_id", room_id) ||
            !cJSON_AddStringToObject(rk, "session_id", o.session_id) ||
            !cJSON_AddStringToObject(rk, "session_key", key))
                goto out;
        b = cJSON_CreateObject();
        memset(&nd, 0, sizeof(nd));
        nd.c = c;
        nd.room = room_id;
        nd.session_id = o.session_id;
        nd.claim_response = claim_response;
        nd.room_key = rk;
        nd.messages = b ? cJSON_AddObjectToObject(b, "messages") : NULL;
        if (!nd.messages)
                goto out;
        r = each_member(c, members, n, &nd);
        if (r)
                goto out;
        if (skipped)
                *skipped = nd.skipped;
        if (nd.messages->child) {
                *body = b;
                b = NULL;
        }
out:
        cJSON_Delete(b);
        js_wipe_delete(rk);
        wipe_str(key);
        ogs_free(s);
        gv_megolm_out_clear(&o);
        return r;
}

enum gv_err gv_crypto_room_shared(struct gv_crypto *c, const char *room_id, const cJSON *body)
{
        const cJSON *msgs = gv_js_obj(body, "messages");
        struct gv_megolm_out o;
        enum gv_err r;

        if (!msgs)
                return fail(c, GV_EINVAL, "not a sendToDevice body");
        r = gv_store_megolm_out_get(c->st, room_id, &o);
        if (r)
                return fail(c, r, "room %s has no outbound session", room_id);
        for (const cJSON *u = msgs->child; u && !r; u = u->next)
                for (const cJSON *d = u->child; d && !r; d = d->next)
                        if (u->string && d->string)
                                r = gv_store_megolm_shared_add(c->st, room_id, o.session_id,
                                                               u->string, d->string);
        gv_megolm_out_clear(&o);
        return r ? fail(c, r, "recording who has the room key: %s", gv_store_errmsg(c->st)) : GV_OK;
}

enum gv_err gv_crypto_room_encrypt(struct gv_crypto *c, const char *room_id, const char *type,
                                   const cJSON *content, cJSON **enc)
{
        OlmOutboundGroupSession *s = NULL;
        struct gv_megolm_out o;
        cJSON *pl = NULL, *e = NULL;
        char *plain = NULL, *out = NULL;
        size_t ml = 0;
        enum gv_err r;

        *enc = NULL;
        if (!room_id || !type || !content)
                return GV_EINVAL;
        r = gv_store_megolm_out_get(c->st, room_id, &o);
        if (r == GV_ENOTFOUND)
                return fail(c, r, "room %s has no outbound session: prepare it first", room_id);
        if (r)
                return fail(c, r, "reading the room's session: %s", gv_store_errmsg(c->st));
        r = ogs_unpickle(c, o.pickle, &s);
        if (r)
                goto out;
        r = GV_ENOMEM;
        pl = cJSON_CreateObject();
        if (!pl || !cJSON_AddStringToObject(pl, "type", type) ||
            !cJSON_AddItemToObject(pl, "content", cJSON_Duplicate(content, 1)) ||
            !cJSON_AddStringToObject(pl, "room_id", room_id))
                goto out;
        plain = cJSON_PrintUnformatted(pl);
        if (!plain)
                goto out;
        if (strlen(plain) > GV_CRYPTO_MAX_CIPHERTEXT) {
                r = fail(c, GV_ETOOBIG, "event over %d bytes", GV_CRYPTO_MAX_CIPHERTEXT);
                goto out;
        }
        ml = olm_group_encrypt_message_length(s, strlen(plain));
        out = malloc(ml + 1);
        if (!out)
                goto out;
        if (olm_group_encrypt(s, (const uint8_t *)plain, strlen(plain), (uint8_t *)out, ml) ==
            olm_error()) {
                r = fail(c, GV_ECRYPTO, "Megolm encrypt: %s",
                         olm_outbound_group_session_last_error(s));
                goto out;
        }
        out[ml] = '\0';
        o.messages++;
        r = ogs_pickle(c, s, &o);
        if (!r && (r = gv_store_megolm_out_set(c->st, room_id, &o)))
                r = fail(c, r, "saving the room's session: %s", gv_store_errmsg(c->st));
        if (r)
                goto out;
        r = GV_ENOMEM;
        e = cJSON_CreateObject();
        if (!e || !cJSON_AddStringToObject(e, "algorithm", GV_CRYPTO_MEGOLM) ||
            !cJSON_AddStringToObject(e, "sender_key", c->curve) ||
            !cJSON_AddStringToObject(e, "ciphertext", out) ||
            !cJSON_AddStringToObject(e, "session_id", o.session_id) ||
            !cJSON_AddStringToObject(e, "device_id", c->device_id))
                goto out;
        *enc = e;
        e = NULL;
        r = GV_OK;
out:
        cJSON_Delete(e);
        js_wipe_delete(pl);
        wipe_str(plain);
        free(out);
        ogs_free(s);
        gv_megolm_out_clear(&o);
        return r;
}
