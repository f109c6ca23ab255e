#include <png.h>

static inline const char *cpng_header_version(void) { return PNG_LIBPNG_VER_STRING; }
