#include "config.h"

#include <stdio.h>

int main(void)
{
    fputs("crispd: not built yet\n", stderr);
    return 1;
}
