// The system zlib (Debian: zlib1g-dev), for reading gzip-compressed data files.
#include <zlib.h>
