#ifndef SEXTANT_CMPI_SHIM_H
#define SEXTANT_CMPI_SHIM_H
// Open MPI's handles (MPI_COMM_WORLD, MPI_INT64_T, MPI_SUM, MPI_IN_PLACE, ...) are macros over
// global objects, which Swift does not import: these wrappers name the few calls the trainer uses.
#include <mpi.h>
#include <stdint.h>

// MPI_THREAD_SERIALIZED: calls come from any thread of Swift's pool, one at a time.
static inline int sextant_mpi_init(int *provided) {
    return MPI_Init_thread(NULL, NULL, MPI_THREAD_SERIALIZED, provided);
}
static inline int sextant_mpi_thread_serialized(void) { return MPI_THREAD_SERIALIZED; }
static inline int sextant_mpi_initialized(void) { int flag = 0; MPI_Initialized(&flag); return flag; }
static inline int sextant_mpi_finalize(void) { return MPI_Finalize(); }
static inline int sextant_mpi_rank(void) { int r = 0; MPI_Comm_rank(MPI_COMM_WORLD, &r); return r; }
static inline int sextant_mpi_size(void) { int s = 1; MPI_Comm_size(MPI_COMM_WORLD, &s); return s; }
static inline int sextant_mpi_abort(int code) { return MPI_Abort(MPI_COMM_WORLD, code); }
static inline int sextant_mpi_barrier(void) { return MPI_Barrier(MPI_COMM_WORLD); }

static inline int sextant_mpi_allreduce_sum_i64(int64_t *values, int count) {
    return MPI_Allreduce(MPI_IN_PLACE, values, count, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
}
static inline int sextant_mpi_allreduce_max_f64(double *values, int count) {
    return MPI_Allreduce(MPI_IN_PLACE, values, count, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
}
static inline int sextant_mpi_bcast_bytes(void *bytes, int count, int root) {
    return MPI_Bcast(bytes, count, MPI_BYTE, root, MPI_COMM_WORLD);
}
static inline int sextant_mpi_gather_i64(int64_t value, int64_t *all, int root) {
    return MPI_Gather(&value, 1, MPI_INT64_T, all, 1, MPI_INT64_T, root, MPI_COMM_WORLD);
}
static inline int sextant_mpi_gatherv_bytes(const void *send, int count, void *recv, const int *counts,
                                            const int *displacements, int root) {
    return MPI_Gatherv(send, count, MPI_BYTE, recv, counts, displacements, MPI_BYTE, root, MPI_COMM_WORLD);
}
static inline int sextant_mpi_error_string(int code, char *text, int *length) {
    return MPI_Error_string(code, text, length);
}
static inline int sextant_mpi_success(void) { return MPI_SUCCESS; }
#endif
