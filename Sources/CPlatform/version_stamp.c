#include "CPlatform.h"

/* The marker, then room for the version. Not const, so it lives in .data where no other
   literal is merged with it, and the compiler cannot assume what it holds: the bytes after the
   marker are whatever a release pipeline wrote into the file after the build. */
char ad_version_stamp_area[AD_VERSION_STAMP_MARKER_LENGTH + AD_VERSION_STAMP_CAPACITY] = AD_VERSION_STAMP_MARKER;

const char *ad_version_stamp(void) {
    return ad_version_stamp_area;
}
