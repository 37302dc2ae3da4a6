#ifndef SEXTANT_COPENSSL_SHIM_H
#define SEXTANT_COPENSSL_SHIM_H
#include <openssl/ssl.h>
#include <openssl/err.h>
#endif
