#ifndef SEXTANT_CZSTD_SHIM_H
#define SEXTANT_CZSTD_SHIM_H
#include <zstd.h>
// ZSTD_CONTENTSIZE_* are expression macros, which Swift does not import.
static inline int sextant_zstd_size_unknown(unsigned long long s) { return s == ZSTD_CONTENTSIZE_UNKNOWN; }
static inline int sextant_zstd_size_error(unsigned long long s) { return s == ZSTD_CONTENTSIZE_ERROR; }
#endif
