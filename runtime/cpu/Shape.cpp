#include "runtime/cpu/Parallel.h"
