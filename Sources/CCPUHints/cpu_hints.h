// CPU hints for the trainer's kernels, which Swift cannot spell.
#pragma once

// Software prefetch: the rows a node reads next are known from its row index, so their cache
// lines can be requested before the loads that need them.
static inline void sextant_prefetch(const void *address) { __builtin_prefetch(address, 0, 3); }

// The spin-wait hint of the trainer's worker pool (x86 PAUSE, Arm YIELD).
static inline void sextant_spin_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
    __asm__ __volatile__("yield");
#endif
}
