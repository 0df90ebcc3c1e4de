/* offsets_cmd.c - `sluice offsets`: placeholder until replay lands. */
#include <stdio.h>
#include "sluice/app.h"
int sl_app_offsets(const sl_config *cfg, const char *route, const char *where, int dry_run)
{
    fprintf(stderr, "sluice offsets: not available yet\n");
    return 1;
}
