/*
 * A small quote provider library for pydcap's tests: it implements the libdcap_quoteprov.so ABI and
 * serves a PCK chain and collateral from files a test writes, counting every allocation so the test can
 * prove pydcap released each buffer through the library's own free functions.
 *
 * Build variants: -DAZURE_FLAVOR (Azure's logging symbol), -DNO_TDX (no tdx_* symbols),
 * -DNO_GLOBAL_INIT (no sgx_qpl_global_init / cleanup), -DBROKEN (omits a required function),
 * -DNO_TDX_FREE (exports the TDX getter without its free function).
 *
 * Files under the configured directory: pck_chain.pem, tcbm.hex (or, for one platform, the same two under
 * pck/<QE-ID in lower-case hex>/), qve_identity.json, qve_identity_issuer_chain.pem, and per TEE (sgx/,
 * tdx/): fmspc.hex, ca.txt and the seven collateral parts (pck_crl, pck_crl_issuer_chain.pem, root_ca_crl,
 * tcb_info.json, tcb_info_issuer_chain.pem, qe_identity.json, qe_identity_issuer_chain.pem). The seven parts
 * may also sit in <tee>/<FMSPC in lower-case hex>_<ca>/, which then serves that FMSPC and CA.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#pragma pack(push, 1)
typedef struct {
    uint8_t *p_qe3_id;
    uint32_t qe3_id_size;
    uint8_t *p_platform_cpu_svn;
    uint16_t *p_platform_pce_isv_svn;
    uint8_t *p_encrypted_ppid;
    uint32_t encrypted_ppid_size;
    uint8_t crypto_suite;
    uint16_t pce_id;
} pck_cert_id_t;

typedef struct {
    uint32_t version;
    uint8_t cert_cpu_svn[16];
    uint16_t cert_pce_isv_svn;
    uint32_t cert_data_size;
    uint8_t *p_cert_data;
} ql_config_t;
#pragma pack(pop)

typedef struct {
    uint16_t major_version;
    uint16_t minor_version;
    uint32_t tee_type;
    char *pck_crl_issuer_chain;
    uint32_t pck_crl_issuer_chain_size;
    char *root_ca_crl;
    uint32_t root_ca_crl_size;
    char *pck_crl;
    uint32_t pck_crl_size;
    char *tcb_info_issuer_chain;
    uint32_t tcb_info_issuer_chain_size;
    char *tcb_info;
    uint32_t tcb_info_size;
    char *qe_identity_issuer_chain;
    uint32_t qe_identity_issuer_chain_size;
    char *qe_identity;
    uint32_t qe_identity_size;
} qve_collateral_t;

typedef void (*log_fn)(int level, const char *message);

/* Informational messages: level 1 in Intel's numbering, 2 in Azure's. */
#ifdef AZURE_FLAVOR
#define LOG_INFO 2
#else
#define LOG_INFO 1
#endif

static char g_dir[1024];
static uint16_t g_major = 3, g_minor = 1;
static uint32_t g_fail_next;
static log_fn g_logger;
static int g_log_level = -1;
static long g_live;
static long g_total;
static long g_init_calls;
static long g_cleanup_calls;
static uint32_t g_last_clear;
char fakeqpl_last_request[512];

/* ---- test controls -------------------------------------------------------------------------- */

void fakeqpl_configure(const char *dir, uint16_t major, uint16_t minor) {
    snprintf(g_dir, sizeof(g_dir), "%s", dir);
    g_major = major;
    g_minor = minor;
}
void fakeqpl_fail_next(uint32_t code) { g_fail_next = code; }
long fakeqpl_live_allocations(void) { return g_live; }
long fakeqpl_total_allocations(void) { return g_total; }
long fakeqpl_init_calls(void) { return g_init_calls; }
long fakeqpl_cleanup_calls(void) { return g_cleanup_calls; }
uint32_t fakeqpl_last_clear(void) { return g_last_clear; }

/* sizeof and offsetof of the three structures, as this compiler lays them out. */
void fakeqpl_layout(uint32_t out[32]) {
    out[0] = sizeof(pck_cert_id_t);
    out[1] = offsetof(pck_cert_id_t, qe3_id_size);
    out[2] = offsetof(pck_cert_id_t, p_platform_cpu_svn);
    out[3] = offsetof(pck_cert_id_t, p_platform_pce_isv_svn);
    out[4] = offsetof(pck_cert_id_t, p_encrypted_ppid);
    out[5] = offsetof(pck_cert_id_t, encrypted_ppid_size);
    out[6] = offsetof(pck_cert_id_t, crypto_suite);
    out[7] = offsetof(pck_cert_id_t, pce_id);
    out[8] = sizeof(ql_config_t);
    out[9] = offsetof(ql_config_t, cert_cpu_svn);
    out[10] = offsetof(ql_config_t, cert_pce_isv_svn);
    out[11] = offsetof(ql_config_t, cert_data_size);
    out[12] = offsetof(ql_config_t, p_cert_data);
    out[13] = sizeof(qve_collateral_t);
    out[14] = offsetof(qve_collateral_t, tee_type);
    out[15] = offsetof(qve_collateral_t, pck_crl_issuer_chain);
    out[16] = offsetof(qve_collateral_t, root_ca_crl);
    out[17] = offsetof(qve_collateral_t, pck_crl);
    out[18] = offsetof(qve_collateral_t, tcb_info_issuer_chain);
    out[19] = offsetof(qve_collateral_t, tcb_info);
    out[20] = offsetof(qve_collateral_t, qe_identity_issuer_chain);
    out[21] = offsetof(qve_collateral_t, qe_identity);
    out[22] = offsetof(qve_collateral_t, qe_identity_size);
}

/* ---- counted memory -------------------------------------------------------------------------- */

static void *counted_alloc(size_t size) {
    void *p = calloc(1, size);
    if (p) {
        g_live++;
        g_total++;
    }
    return p;
}

static void counted_free(void *p) {
    if (p) {
        g_live--;
        free(p);
    }
}

static void say(int level, const char *message) {
    if (g_logger && level <= g_log_level) g_logger(level, message);
}

/* Read <dir>/<name> into a counted buffer with a NUL appended; size includes the NUL. */
static char *read_file(const char *sub, const char *name, uint32_t *size) {
    char path[1400];
    snprintf(path, sizeof(path), "%s/%s%s%s", g_dir, sub, *sub ? "/" : "", name);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = counted_alloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        counted_free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf && size) *size = (uint32_t)n + 1;
    return buf;
}

static void hex(char *out, const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++) sprintf(out + 2 * i, "%02x", p[i]);
    out[2 * n] = 0;
}

static uint32_t take_failure(void) {
    uint32_t code = g_fail_next;
    g_fail_next = 0;
    return code;
}

/* ---- the ABI --------------------------------------------------------------------------------- */

uint32_t sgx_ql_get_quote_config(const pck_cert_id_t *id, ql_config_t **out) {
    uint32_t failure = take_failure();
    if (failure) return failure;
    if (!id || !out || !id->p_qe3_id || !id->p_platform_cpu_svn || !id->p_platform_pce_isv_svn) return 0xE002;
    char qe[300], cpu[40];
    hex(qe, id->p_qe3_id, id->qe3_id_size > 128 ? 128 : id->qe3_id_size);
    hex(cpu, id->p_platform_cpu_svn, 16);
    snprintf(fakeqpl_last_request, sizeof(fakeqpl_last_request),
             "qeid=%s cpusvn=%s pcesvn=%u pceid=%u ppid_size=%u ppid_first=%u suite=%u", qe, cpu,
             *id->p_platform_pce_isv_svn, id->pce_id, id->encrypted_ppid_size,
             id->p_encrypted_ppid && id->encrypted_ppid_size ? id->p_encrypted_ppid[0] : 0, id->crypto_suite);
    say(LOG_INFO, "[fakeqpl] PCK certificate requested");
    uint32_t pem_size = 0, tcbm_size = 0;
    char platform_dir[320];
    snprintf(platform_dir, sizeof(platform_dir), "pck/%s", qe);
    const char *sub = platform_dir;
    char *pem = read_file(sub, "pck_chain.pem", &pem_size);
    if (!pem) {
        sub = "";
        pem = read_file(sub, "pck_chain.pem", &pem_size);
    }
    char *tcbm = read_file(sub, "tcbm.hex", &tcbm_size);
    if (!pem || !tcbm || tcbm_size < 37) {
        counted_free(pem);
        counted_free(tcbm);
        say(0, "[fakeqpl] no certificate data");
        return 0xE011;
    }
    ql_config_t *config = counted_alloc(sizeof(*config));
    config->version = 1;
    for (int i = 0; i < 18; i++) {
        unsigned int byte;
        sscanf(tcbm + 2 * i, "%2x", &byte);
        if (i < 16) config->cert_cpu_svn[i] = (uint8_t)byte;
        else config->cert_pce_isv_svn |= (uint16_t)(byte << (8 * (i - 16)));
    }
    counted_free(tcbm);
    config->p_cert_data = (uint8_t *)pem;
    config->cert_data_size = pem_size;
    *out = config;
    return 0;
}

uint32_t sgx_ql_free_quote_config(ql_config_t *config) {
    if (config) {
        counted_free(config->p_cert_data);
        counted_free(config);
    }
    return 0;
}

static const char *PART_FILES[7] = {"pck_crl_issuer_chain.pem", "root_ca_crl", "pck_crl",
                                    "tcb_info_issuer_chain.pem", "tcb_info.json", "qe_identity_issuer_chain.pem",
                                    "qe_identity.json"};

/* The seven (pointer, size) members, in PART_FILES order. */
static void collateral_parts(qve_collateral_t *c, char **pointers[7], uint32_t *sizes[7]) {
    char **p[7] = {&c->pck_crl_issuer_chain, &c->root_ca_crl, &c->pck_crl, &c->tcb_info_issuer_chain,
                   &c->tcb_info, &c->qe_identity_issuer_chain, &c->qe_identity};
    uint32_t *n[7] = {&c->pck_crl_issuer_chain_size, &c->root_ca_crl_size, &c->pck_crl_size,
                      &c->tcb_info_issuer_chain_size, &c->tcb_info_size, &c->qe_identity_issuer_chain_size,
                      &c->qe_identity_size};
    memcpy(pointers, p, sizeof(p));
    memcpy(sizes, n, sizeof(n));
}

static uint32_t free_collateral(qve_collateral_t *c) {
    if (!c) return 0;
    char **pointers[7];
    uint32_t *sizes[7];
    collateral_parts(c, pointers, sizes);
    for (int i = 0; i < 7; i++) counted_free(*pointers[i]);
    counted_free(c);
    return 0;
}

static uint32_t fill_collateral(const char *dir, uint32_t tee_type, qve_collateral_t **out);

static uint32_t get_collateral(const char *tee, uint32_t tee_type, const uint8_t *fmspc, uint16_t fmspc_size,
                               const char *ca, qve_collateral_t **out) {
    uint32_t failure = take_failure();
    if (failure) return failure;
    if (!fmspc || fmspc_size != 6 || !ca || !out) return 0xE002;
    char want[16] = {0}, got[16], ca_file[32] = {0};
    hex(got, fmspc, 6);
    snprintf(fakeqpl_last_request, sizeof(fakeqpl_last_request), "%s fmspc=%s ca=%s", tee, got, ca);
    say(LOG_INFO, "[fakeqpl] collateral requested");
    char dir[64];
    snprintf(dir, sizeof(dir), "%s/%s_%.9s", tee, got, ca);
    char *probe = read_file(dir, "tcb_info.json", NULL);
    if (probe) {
        counted_free(probe);
        return fill_collateral(dir, tee_type, out);
    }
    uint32_t stored_size = 0;
    char *stored = read_file(tee, "fmspc.hex", &stored_size);
    if (!stored) return 0xE01B;
    snprintf(want, sizeof(want), "%s", stored);
    counted_free(stored);
    if (stored_size < 13 || strncmp(want, got, 12) != 0) return 0xE062;
    char *stored_ca = read_file(tee, "ca.txt", NULL);
    if (!stored_ca) return 0xE01B;
    snprintf(ca_file, sizeof(ca_file), "%s", stored_ca);
    counted_free(stored_ca);
    if (strcmp(ca_file, ca) != 0) return 0xE01B;
    return fill_collateral(tee, tee_type, out);
}

/* The seven parts from <dir>/ into a counted structure. */
static uint32_t fill_collateral(const char *dir, uint32_t tee_type, qve_collateral_t **out) {
    qve_collateral_t *c = counted_alloc(sizeof(*c));
    c->major_version = g_major;
    c->minor_version = g_minor;
    c->tee_type = tee_type;
    char **pointers[7];
    uint32_t *sizes[7];
    collateral_parts(c, pointers, sizes);
    for (int i = 0; i < 7; i++) {
        *pointers[i] = read_file(dir, PART_FILES[i], sizes[i]);
        if (!*pointers[i]) {
            free_collateral(c);
            return 0xE01B;
        }
    }
    *out = c;
    return 0;
}

uint32_t sgx_ql_get_quote_verification_collateral(const uint8_t *fmspc, uint16_t fmspc_size, const char *ca,
                                                  qve_collateral_t **out) {
    return get_collateral("sgx", 0, fmspc, fmspc_size, ca, out);
}
#ifndef BROKEN
uint32_t sgx_ql_free_quote_verification_collateral(qve_collateral_t *c) { return free_collateral(c); }
#endif

#ifndef NO_TDX
uint32_t tdx_ql_get_quote_verification_collateral(const uint8_t *fmspc, uint16_t fmspc_size, const char *ca,
                                                  qve_collateral_t **out) {
    return get_collateral("tdx", 0x81, fmspc, fmspc_size, ca, out);
}
#ifndef NO_TDX_FREE
uint32_t tdx_ql_free_quote_verification_collateral(qve_collateral_t *c) { return free_collateral(c); }
#endif
#endif

uint32_t sgx_ql_get_qve_identity(char **identity, uint32_t *identity_size, char **chain, uint32_t *chain_size) {
    uint32_t failure = take_failure();
    if (failure) return failure;
    *identity = read_file("", "qve_identity.json", identity_size);
    *chain = read_file("", "qve_identity_issuer_chain.pem", chain_size);
    if (!*identity || !*chain) {
        counted_free(*identity);
        counted_free(*chain);
        return 0xE037;
    }
    return 0;
}

uint32_t sgx_ql_free_qve_identity(char *identity, char *chain) {
    counted_free(identity);
    counted_free(chain);
    return 0;
}

uint32_t sgx_ql_get_root_ca_crl(uint8_t **crl, uint16_t *size) {
    uint32_t failure = take_failure();
    if (failure) return failure;
    uint32_t n = 0;
    *crl = (uint8_t *)read_file("sgx", "root_ca_crl", &n);
    if (!*crl) return 0xE01B;
    *size = (uint16_t)n;
    return 0;
}

uint32_t sgx_ql_free_root_ca_crl(uint8_t *crl) {
    counted_free(crl);
    return 0;
}

uint32_t sgx_qpl_clear_cache(uint32_t mask) {
    if (mask & ~7u) return 0xE002;
    g_last_clear = mask;
    return 0;
}

#ifdef AZURE_FLAVOR
/* Azure: levels ERROR 0, WARNING 1, INFO 2; no level argument; returns sgx_plat_error_t (0 = OK). */
int sgx_ql_set_logging_function(log_fn logger) {
    g_logger = logger;
    g_log_level = 2;
    if (logger) logger(1, "[fakeqpl] warning level message");
    return 0;
}
#else
uint32_t sgx_ql_set_logging_callback(log_fn logger, int level) {
    g_logger = logger;
    g_log_level = level;
    return 0;
}
#endif

#ifndef NO_GLOBAL_INIT
uint32_t sgx_qpl_global_init(void) {
    g_init_calls++;
    return 0;
}
uint32_t sgx_qpl_global_cleanup(void) {
    g_cleanup_calls++;
    return 0;
}
#endif
