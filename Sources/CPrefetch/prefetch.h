// Software prefetch for the trainer's gathers: the rows a node reads next are known from its row
// index, so their cache lines can be requested before the loads that need them.
#pragma once

static inline void sextant_prefetch(const void *address) { __builtin_prefetch(address, 0, 3); }
