#ifndef SEXTANT_CCURL_SHIM_H
#define SEXTANT_CCURL_SHIM_H
// Fixed-arity wrappers: Swift cannot call C variadic functions such as curl_easy_setopt.
#include <curl/curl.h>
#include <stdint.h>

static inline CURLcode sx_setopt_long(CURL *h, CURLoption o, long v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode sx_setopt_off(CURL *h, CURLoption o, curl_off_t v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode sx_setopt_str(CURL *h, CURLoption o, const char *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode sx_setopt_ptr(CURL *h, CURLoption o, void *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode sx_setopt_slist(CURL *h, CURLoption o, struct curl_slist *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode sx_setopt_share(CURL *h, CURLSH *s) { return curl_easy_setopt(h, CURLOPT_SHARE, s); }
static inline CURLcode sx_setopt_blob(CURL *h, CURLoption o, void *data, size_t len) {
    struct curl_blob b;
    b.data = data;
    b.len = len;
    b.flags = CURL_BLOB_COPY;
    return curl_easy_setopt(h, o, &b);
}

typedef size_t (*sx_data_cb)(char *ptr, size_t size, size_t nmemb, void *userdata);
static inline CURLcode sx_setopt_write(CURL *h, sx_data_cb cb) { return curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, cb); }
static inline CURLcode sx_setopt_header(CURL *h, sx_data_cb cb) { return curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, cb); }
static inline CURLcode sx_setopt_read(CURL *h, sx_data_cb cb) { return curl_easy_setopt(h, CURLOPT_READFUNCTION, cb); }

typedef int (*sx_xferinfo_cb)(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow);
static inline CURLcode sx_setopt_xferinfo(CURL *h, sx_xferinfo_cb cb) { return curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, cb); }

static inline CURLcode sx_getinfo_long(CURL *h, CURLINFO i, long *v) { return curl_easy_getinfo(h, i, v); }
static inline CURLcode sx_getinfo_double(CURL *h, CURLINFO i, double *v) { return curl_easy_getinfo(h, i, v); }
static inline CURLcode sx_getinfo_ptr(CURL *h, CURLINFO i, void **v) { return curl_easy_getinfo(h, i, v); }

static inline CURLMcode sx_multi_setopt_long(CURLM *m, CURLMoption o, long v) { return curl_multi_setopt(m, o, v); }
static inline CURLSHcode sx_share_setopt_long(CURLSH *s, CURLSHoption o, long v) { return curl_share_setopt(s, o, v); }
static inline CURLSHcode sx_share_setopt_ptr(CURLSH *s, CURLSHoption o, void *v) { return curl_share_setopt(s, o, v); }

static inline CURLcode sx_global_init(void) { return curl_global_init(CURL_GLOBAL_ALL); }
static inline CURLcode sx_unpause(CURL *h) { return curl_easy_pause(h, CURLPAUSE_CONT); }
static inline size_t sx_writefunc_pause(void) { return CURL_WRITEFUNC_PAUSE; }
static inline long sx_http_version_2tls(void) { return CURL_HTTP_VERSION_2TLS; }
static inline int sx_curl_version_ok(void) { return LIBCURL_VERSION_NUM >= 0x074700; }
#endif
