#ifndef SEXTANT_CMIMALLOC_SHIM_H
#define SEXTANT_CMIMALLOC_SHIM_H
// mimalloc's option API, for the programs that link it (Package.swift: fastAllocator).
#include <mimalloc.h>
#endif
