#ifndef SEXTANT_CZLIB_SHIM_H
#define SEXTANT_CZLIB_SHIM_H
#include <zlib.h>
// inflateInit2 is a macro in zlib.h; Swift cannot call macros, so wrap it.
static inline int sextant_inflate_init2(z_stream *strm, int windowBits) {
    return inflateInit2(strm, windowBits);
}
#endif
