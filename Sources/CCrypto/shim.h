#ifndef SEXTANT_CCRYPTO_SHIM_H
#define SEXTANT_CCRYPTO_SHIM_H
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/hmac.h>
#endif
