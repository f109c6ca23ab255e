// oneDNN's C API plus the OpenMP calls Swift's clang cannot see (there is no omp.h on its path).
// Debian's libdnnl is built on OpenMP (libgomp), so thread counts are set through OpenMP.
#include <oneapi/dnnl/dnnl.h>

void omp_set_num_threads(int);
int omp_get_max_threads(void);
