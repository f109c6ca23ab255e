// oneDNN's C API plus the OpenMP calls Swift's clang cannot see (there is no omp.h on its path).
// Debian's libdnnl is built on OpenMP (libgomp), so thread counts are set through OpenMP.
#include <oneapi/dnnl/dnnl.h>

void omp_set_num_threads(int);
int omp_get_max_threads(void);

static inline void *cdnnl_memory_allocate(void) { return DNNL_MEMORY_ALLOCATE; }

// glibc's allocator settings (malloc.h is not part of the Glibc module Swift imports): the backend keeps freed
// activation memory for reuse.
#include <malloc.h>
