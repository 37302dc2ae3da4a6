#ifndef SEXTANT_CSNAPPY_SHIM_H
#define SEXTANT_CSNAPPY_SHIM_H
#include <snappy-c.h>
#endif
