#ifndef SEXTANT_CLZ4_SHIM_H
#define SEXTANT_CLZ4_SHIM_H
#include <lz4.h>
#endif
