#ifndef CSUPPORT_H
#define CSUPPORT_H

// Stop requests from signals: the handler only sets an atomic flag; the training loop reads it at step
// boundaries (signal handlers cannot safely call Swift code).
void csupport_install_stop_handlers(void);
// The first stop request writes `text` (kept alive by the caller) to standard output at once; NULL for silence.
void csupport_announce_stop_requests(const char *text);
int csupport_stop_requested(void);   // the signal number that asked to stop, or 0
void csupport_clear_stop_request(void);

#include "png_codec.h"

#endif
