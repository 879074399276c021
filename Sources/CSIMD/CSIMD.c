// CSIMD is header-only: its functions are inlined where Swift calls them. This file gives the target a source.
#include "CSIMD.h"
